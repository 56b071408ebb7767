-- ARGV 4 notificationID, 5 the API key's scope ('' for every application, see covers).
-- Returns {204, expired}, {409, expired} when already final, or {404} / {403} (see
-- unreachable) changing nothing.
local refusal = unreachable(ARGV[4], ARGV[5])
if refusal then
  return {refusal}
end
local expired = sweep()
local status = redis.call('HGET', NOTE .. ARGV[4], 'st')
if status ~= 'queued' and status ~= 'sent' then
  return {409, expired}
end
finish(ARGV[4], 'cancelled')
return {204, expired}
