-- ARGV 4 clientID, 5 applicationID, 6 fresh registrationID, 7 application limit.
-- Idempotent. Returns {200, registrationID}, {403} at the limit, {404} unknown client.
if redis.call('HGET', CLIENT, 'id') ~= ARGV[4] then
  return {404}
end
local existing = redis.call('HGET', APPS, ARGV[5])
if existing then
  return {200, existing}
end
if redis.call('HLEN', APPS) >= tonumber(ARGV[7]) then
  return {403}
end
redis.call('HSET', APPS, ARGV[5], ARGV[6])
redis.call('HSET', REGS, ARGV[6], ARGV[5])
return {200, ARGV[6]}
