-- ARGV 4 clientID, 5 the connection's deviceNumber ('' without device authentication),
-- 6 node, 7 connection, 8 the current period of the last-seen clock. The last
-- activation wins: the epoch is bumped (fencing the previous owner's reads) and the
-- previous connection, if another one, is told to close with 4001. Returns
-- told({200, new epoch, seen news (0 or 1)}), or {404} / {403} (see refused) changing
-- nothing.
local refusal = refused(ARGV[4], ARGV[5])
if refusal then
  return {refusal}
end
local same, node, conn = owns(ARGV[6], ARGV[7])
local epoch = redis.call('HINCRBY', CLIENT, 'epoch', 1)
redis.call('HSET', CLIENT, 'node', ARGV[6], 'conn', ARGV[7])
if node and not same then
  tell(node, 'close ' .. conn .. ' 4001')
end
return told({200, epoch, seen(ARGV[8])})
