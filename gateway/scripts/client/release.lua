-- ARGV 5 node, 6 connection. A closed connection gives up the channel, but only
-- if it still owns it: a newer owner is never overwritten. Returns 1 if released.
if not owns(ARGV[5], ARGV[6]) then
  return 0
end
redis.call('HDEL', CLIENT, 'node', 'conn')
redis.call('HINCRBY', CLIENT, 'epoch', 1)
return 1
