-- ARGV 4 clientID, 5 applicationID. The registrationID stops working at once and
-- its pending notifications end cancelled. Returns {200, expired, cancelled} or
-- {404, field} naming what is unknown.
if redis.call('HGET', CLIENT, 'id') ~= ARGV[4] then
  return {404, 'clientID'}
end
local reg = redis.call('HGET', APPS, ARGV[5])
if not reg then
  return {404, 'applicationID'}
end
redis.call('HDEL', APPS, ARGV[5])
redis.call('HDEL', REGS, reg)
local expired = sweep()
local cancelled = 0
for _, id in ipairs(redis.call('ZRANGE', QUEUE, 0, -1)) do
  if redis.call('HGET', NOTE .. id, 'reg') == reg then
    finish(id, 'cancelled')
    cancelled = cancelled + 1
  end
end
return {200, expired, cancelled}
