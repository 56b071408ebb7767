-- ARGV 4 notificationID. Returns {204, expired}, {409, expired} when already final,
-- or {404, expired}.
local expired = sweep()
local status = redis.call('HGET', NOTE .. ARGV[4], 'st')
if not status then
  return {404, expired}
end
if status ~= 'queued' and status ~= 'sent' then
  return {409, expired}
end
finish(ARGV[4], 'cancelled')
return {204, expired}
