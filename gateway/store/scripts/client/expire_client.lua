-- ARGV 4 the period before which a client counts as abandoned, 5 the current
-- period, 6 what is known of the node owning the client's channel: '' nothing yet,
-- 'alive' or 'dead'.
-- Removes a client not seen since before ARGV 5 (as deregister_client does).
-- Returns told({'gone', clientID, deviceNumber, expired, cancelled}) (its channel's node is
-- told to close it with 4002); {'seen', period} when it was
-- seen later (an open channel on a live node counts as seen now); {'owned', node}
-- when the owner's node must be checked first; nil when the client is already gone.
local id = redis.call('HGET', CLIENT, 'id')
if not id then
  return nil
end
local last = tonumber(redis.call('HGET', CLIENT, 'seen') or '0')
if last >= tonumber(ARGV[4]) then
  return {'seen', tostring(last)}
end
local owner = redis.call('HGET', CLIENT, 'node')
if owner and ARGV[6] == '' then
  return {'owned', owner}
end
if owner and ARGV[6] == 'alive' then
  seen(ARGV[5])
  return {'seen', ARGV[5]}
end
local removed = remove_client('', '')
return told({'gone', id, removed[1], removed[2], removed[3]})
