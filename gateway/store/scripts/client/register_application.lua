-- ARGV 4 clientID, 5 the connection's deviceNumber ('' without device authentication),
-- 6 applicationID, 7 fresh registrationID, 8 application limit.
-- Idempotent. Returns {200, registrationID}, {'full'} at the limit, or {404} / {403}
-- (see refused).
local refusal = refused(ARGV[4], ARGV[5])
if refusal then
  return {refusal}
end
local existing = redis.call('HGET', APPS, ARGV[6])
if existing then
  return {200, existing}
end
if redis.call('HLEN', APPS) >= tonumber(ARGV[8]) then
  return {'full'}
end
redis.call('HSET', APPS, ARGV[6], ARGV[7])
redis.call('HSET', REGS, ARGV[7], ARGV[6])
return {200, ARGV[7]}
