-- ARGV 4 clientID, 5 node, 6 connection. The last activation wins: the epoch is
-- bumped (fencing the previous owner's reads) and the previous connection, if
-- another one, is told to close with 4001. Returns told({new epoch}), or nil.
if redis.call('HGET', CLIENT, 'id') ~= ARGV[4] then
  return nil
end
local same, node, conn = owns(ARGV[5], ARGV[6])
local epoch = redis.call('HINCRBY', CLIENT, 'epoch', 1)
redis.call('HSET', CLIENT, 'node', ARGV[5], 'conn', ARGV[6])
if node and not same then
  tell(node, 'close ' .. conn .. ' 4001')
end
return told({epoch})
