-- ARGV 4 clientID, 5 node, 6 connection, 7 the current period of the last-seen
-- clock. The last activation wins: the epoch is bumped (fencing the previous
-- owner's reads) and the previous connection, if another one, is told to close
-- with 4001. Returns {the new epoch, seen news (0 or 1)}, or nil.
if redis.call('HGET', CLIENT, 'id') ~= ARGV[4] then
  return nil
end
local same, node, conn = owns(ARGV[5], ARGV[6])
local epoch = redis.call('HINCRBY', CLIENT, 'epoch', 1)
redis.call('HSET', CLIENT, 'node', ARGV[5], 'conn', ARGV[6])
if node and not same then
  tell(node, 'close ' .. conn .. ' 4001')
end
return {epoch, seen(ARGV[7])}
