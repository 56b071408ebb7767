-- ARGV 4 notificationID. Returns {expired, reg, status, accepted, finished or false}, or nil.
local expired = sweep()
local f = redis.call('HMGET', NOTE .. ARGV[4], 'reg', 'st', 'at', 'ft')
if not f[2] then
  return nil
end
return {expired, f[1], f[2], f[3], f[4]}
