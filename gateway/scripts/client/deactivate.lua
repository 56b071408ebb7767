-- ARGV 5 clientID, 6 requesting node, 7 requesting connection.
-- Ends the client's channel wherever it is. Returns 1 (0 when none was active), or nil.
if redis.call('HGET', CLIENT, 'id') ~= ARGV[5] then
  return nil
end
local same, node, conn = owns(ARGV[6], ARGV[7])
if not node then
  return 0
end
redis.call('HDEL', CLIENT, 'node', 'conn')
redis.call('HINCRBY', CLIENT, 'epoch', 1)
if not same then
  tell(node, 'drop ' .. conn)
end
return 1
