-- ARGV 4 clientID, 5 the connection's deviceNumber ('' without device authentication),
-- 6 requesting node, 7 requesting connection.
-- All-or-nothing removal of a client; its pending notifications end cancelled.
-- Returns {200, deviceNumber, expired, cancelled}, or {404} / {403} (see refused)
-- changing nothing.
local refusal = refused(ARGV[4], ARGV[5])
if refusal then
  return {refusal}
end
local expired = sweep()
local pending = redis.call('ZRANGE', QUEUE, 0, -1)
for _, id in ipairs(pending) do
  finish(id, 'cancelled')
end
local same, node, conn = owns(ARGV[6], ARGV[7])
local device = redis.call('HGET', CLIENT, 'dev')
redis.call('DEL', CLIENT, APPS, REGS, QUEUE, DEADLINES, COLLAPSE)
if node and not same then
  tell(node, 'close ' .. conn .. ' 4002')
end
return {200, device, expired, #pending}
