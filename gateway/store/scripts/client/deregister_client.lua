-- ARGV 4 clientID, 5 requesting node, 6 requesting connection.
-- All-or-nothing removal of a client; its pending notifications end cancelled.
-- Returns told({deviceNumber, expired, cancelled}), or nil when the clientID is unknown.
if redis.call('HGET', CLIENT, 'id') ~= ARGV[4] then
  return nil
end
local expired = sweep()
local pending = redis.call('ZRANGE', QUEUE, 0, -1)
for _, id in ipairs(pending) do
  finish(id, 'cancelled')
end
local same, node, conn = owns(ARGV[5], ARGV[6])
local device = redis.call('HGET', CLIENT, 'dev')
redis.call('DEL', CLIENT, APPS, REGS, QUEUE, DEADLINES, COLLAPSE)
if node and not same then
  tell(node, 'close ' .. conn .. ' 4002')
end
return told({device, expired, #pending})
