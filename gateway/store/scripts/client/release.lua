-- ARGV 4 node, 5 connection. A closed connection gives up the channel, but only
-- if it still owns it: a newer owner is never overwritten. Returns 1 if released.
if not owns(ARGV[4], ARGV[5]) then
  return 0
end
redis.call('HDEL', CLIENT, 'node', 'conn')
redis.call('HINCRBY', CLIENT, 'epoch', 1)
return 1
