-- ARGV 4 notificationID, 5 the API key's scope ('' for every application, see covers).
-- Returns {200, expired, reg, status, accepted, finished or false}, {404} or {403}; the
-- scope is checked before anything is swept.
local app = redis.call('HGET', NOTE .. ARGV[4], 'app')
if not app then
  return {404}
end
if not covers(ARGV[5], app) then
  return {403}
end
local expired = sweep()
local f = redis.call('HMGET', NOTE .. ARGV[4], 'reg', 'st', 'at', 'ft')
return {200, expired, f[1], f[2], f[3], f[4]}
