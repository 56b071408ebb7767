-- ARGV 4 clientID, 5 the connection's deviceNumber ('' without device authentication),
-- 6 requesting node, 7 requesting connection.
-- Ends the client's channel wherever it is. Returns told({200, 1}) (told({200, 0}) when
-- none was active), or {404} / {403} (see refused) changing nothing.
local refusal = refused(ARGV[4], ARGV[5])
if refusal then
  return {refusal}
end
local same, node, conn = owns(ARGV[6], ARGV[7])
if not node then
  return told({200, 0})
end
redis.call('HDEL', CLIENT, 'node', 'conn')
redis.call('HINCRBY', CLIENT, 'epoch', 1)
if not same then
  tell(node, 'drop ' .. conn)
end
return told({200, 1})
