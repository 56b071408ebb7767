-- ARGV 4 notificationID, 5 the API key's scope ('' for every application, see covers).
-- Returns {200, expired, reg, status, accepted, finished or false}, or {404} / {403}
-- (see unreachable), checked before anything is swept.
local refusal = unreachable(ARGV[4], ARGV[5])
if refusal then
  return {refusal}
end
local expired = sweep()
local f = redis.call('HMGET', NOTE .. ARGV[4], 'reg', 'st', 'at', 'ft')
return {200, expired, f[1], f[2], f[3], f[4]}
