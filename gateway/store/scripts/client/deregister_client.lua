-- ARGV 4 clientID, 5 requesting node, 6 requesting connection.
-- All-or-nothing removal of a client; its pending notifications end cancelled.
-- Returns {deviceNumber, expired, cancelled}, or nil when the clientID is unknown.
if redis.call('HGET', CLIENT, 'id') ~= ARGV[4] then
  return nil
end
return remove_client(ARGV[5], ARGV[6])
