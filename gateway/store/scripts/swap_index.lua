-- KEYS 1 the deviceNumber index. ARGV 1 the clientID expected there, 2 the new
-- clientID, or '' to delete. Compare-and-set; returns 1 when it changed the key.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2])
end
return 1
