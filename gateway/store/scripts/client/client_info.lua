-- ARGV 4 clientID. Returns {expired, deviceNumber, node or false, pending, app, reg, ...}, or nil.
if redis.call('HGET', CLIENT, 'id') ~= ARGV[4] then
  return nil
end
local expired = sweep()
local out = {expired, redis.call('HGET', CLIENT, 'dev'), redis.call('HGET', CLIENT, 'node'), redis.call('ZCARD', QUEUE)}
for _, v in ipairs(redis.call('HGETALL', APPS)) do
  table.insert(out, v)
end
return out
