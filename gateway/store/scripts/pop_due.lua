-- KEYS 1 a bucket of last-seen times (sorted set: clientID scored by period).
-- ARGV 1 the period before which clients are due, 2 at most how many.
-- Pops the due entries atomically, so two nodes never reap the same client.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #due > 0 then
  redis.call('ZREM', KEYS[1], unpack(due))
end
return due
