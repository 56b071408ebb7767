-- ARGV 4 registrationID, 5 notificationID, 6 payload, 7 ttl (ms), 8 collapseKey or '',
-- 9 pending limit, 10 how long a ttl-0 notification may wait for the active channel (ms),
-- 11 the calling node's ID, 12 the API key's scope ('' for every application, see covers),
-- 13 idempotency key or '', 14 the current period of the last-seen clock.
-- Stores one notification in acceptance order and tells the owning node to ring,
-- unless that is the calling node, which rings its channel itself. With an idempotency
-- key, the notificationID is kept under (registrationID, key) in the same step, and a
-- repeat stores nothing: it gets the first notificationID back.
-- Returns told({status, expired, replaced, ring here (0 or 1), seen news (0 or 1)}) with
-- status 404, 403, 429 or 'expired'; told({'queued', expired, replaced, ring here, seen
-- news, sequence, ownership epoch, applicationID, accepted time}) (what a doorbell may
-- carry); or told({'replayed', 0, 0, 0, seen news, first ID}).
local reg, id, collapse = ARGV[4], ARGV[5], ARGV[8]
local app = redis.call('HGET', REGS, reg)
if not app then
  return told({404, 0, 0, 0, 0})
end
if not covers(ARGV[12], app) then
  return told({403, 0, 0, 0, 0})
end
-- One read of the client hash for the last-seen clock and the channel's owner.
local client = redis.call('HMGET', CLIENT, 'seen', 'node', 'epoch')
local news = seen(ARGV[14], client[1])
local idem = false
if ARGV[13] ~= '' then
  idem = BASE .. 'idem:' .. reg .. ':' .. ARGV[13]
  local first = redis.call('GET', idem)
  if first then
    return told({'replayed', 0, 0, 0, news, first})
  end
end
local expired = sweep()
local replaced = false
if collapse ~= '' then
  replaced = redis.call('HGET', COLLAPSE, reg .. ':' .. collapse)
end
local pending = redis.call('ZCARD', QUEUE)
if replaced then
  pending = pending - 1
end
if pending >= tonumber(ARGV[9]) then
  return told({429, expired, 0, 0, news})
end
if replaced then
  finish(replaced, 'cancelled')
end
if idem then
  redis.call('SET', idem, id, 'PX', KEEP)
end
local key = NOTE .. id
local ttl = tonumber(ARGV[7])
local node = client[2]
if ttl == 0 and not node then
  redis.call('HSET', key, 'reg', reg, 'app', app, 'at', NOW, 'dl', NOW, 'st', 'expired', 'ft', NOW)
  redis.call('PEXPIRE', key, KEEP)
  return told({'expired', expired, replaced and 1 or 0, 0, news})
end
if ttl == 0 then
  ttl = tonumber(ARGV[10])
end
local deadline = NOW + ttl
local dl = tostring(deadline)
local seq = redis.call('HINCRBY', CLIENT, 'seq', 1)
redis.call('HSET', key, 'reg', reg, 'app', app, 'pl', ARGV[6], 'at', NOW, 'dl', dl, 'st', 'queued')
if collapse ~= '' then
  redis.call('HSET', key, 'ck', collapse)
  redis.call('HSET', COLLAPSE, reg .. ':' .. collapse, id)
end
redis.call('PEXPIREAT', key, deadline + KEEP)
redis.call('ZADD', QUEUE, seq, id)
redis.call('ZADD', DEADLINES, dl, id)
local here = 0
if node == ARGV[11] then
  here = 1
elseif node then
  tell(node, 'ring ' .. TAG)
end
return told({'queued', expired, replaced and 1 or 0, here, news, seq, client[3], app, NOW})
