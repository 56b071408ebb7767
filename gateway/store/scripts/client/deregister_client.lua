-- ARGV 4 clientID, 5 the connection's deviceNumber ('' without device authentication),
-- 6 requesting node, 7 requesting connection.
-- All-or-nothing removal of a client (see remove_client).
-- Returns told({200, deviceNumber, expired, cancelled}), or {404} / {403} (see refused)
-- changing nothing.
local refusal = refused(ARGV[4], ARGV[5])
if refusal then
  return {refusal}
end
local removed = remove_client(ARGV[6], ARGV[7])
return told({200, removed[1], removed[2], removed[3]})
