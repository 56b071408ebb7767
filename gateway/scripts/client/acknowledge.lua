-- ARGV 5 notificationID, 6 final status (delivered or rejected).
-- Returns the acceptance time, or nil when the notification is not pending.
if not redis.call('ZSCORE', QUEUE, ARGV[5]) then
  return nil
end
local accepted = redis.call('HGET', NOTE .. ARGV[5], 'at')
finish(ARGV[5], ARGV[6])
return accepted
