-- ARGV 5 clientID, 6 applicationID, 7 fresh registrationID, 8 application limit.
-- Idempotent. Returns {200, registrationID}, {403} at the limit, {404} unknown client.
if redis.call('HGET', CLIENT, 'id') ~= ARGV[5] then
  return {404}
end
local existing = redis.call('HGET', APPS, ARGV[6])
if existing then
  return {200, existing}
end
if redis.call('HLEN', APPS) >= tonumber(ARGV[8]) then
  return {403}
end
redis.call('HSET', APPS, ARGV[6], ARGV[7])
redis.call('HSET', REGS, ARGV[7], ARGV[6])
return {200, ARGV[7]}
