-- ARGV 4 clientID, 5 requesting node, 6 requesting connection.
-- Ends the client's channel wherever it is. Returns told({1}) ({0} when none was
-- active), or nil.
if redis.call('HGET', CLIENT, 'id') ~= ARGV[4] then
  return nil
end
local same, node, conn = owns(ARGV[5], ARGV[6])
if not node then
  return told({0})
end
redis.call('HDEL', CLIENT, 'node', 'conn')
redis.call('HINCRBY', CLIENT, 'epoch', 1)
if not same then
  tell(node, 'drop ' .. conn)
end
return told({1})
