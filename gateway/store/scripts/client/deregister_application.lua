-- ARGV 4 clientID, 5 the connection's deviceNumber ('' without device authentication),
-- 6 applicationID. The registrationID stops working at once and its pending
-- notifications end cancelled. Returns {200, expired, cancelled}, {'unknown_application'},
-- or {404} / {403} (see refused).
local refusal = refused(ARGV[4], ARGV[5])
if refusal then
  return {refusal}
end
local reg = redis.call('HGET', APPS, ARGV[6])
if not reg then
  return {'unknown_application'}
end
redis.call('HDEL', APPS, ARGV[6])
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
