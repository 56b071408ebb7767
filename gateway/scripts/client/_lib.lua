-- Shared prologue of every client script (prepended when scripts load).
-- KEYS: all keys of one client, sharing its hash tag:
--   1 client hash (id dev epoch node conn seq), 2 apps (applicationID -> registrationID),
--   3 regs (registrationID -> applicationID), 4 queue (notificationID -> sequence),
--   5 deadlines (notificationID -> deadline ms), 6 collapse ("registrationID:collapseKey" -> id)
-- ARGV: 1 notification key prefix (same tag), 2 bus channel prefix, 3 now (ms),
--   4 how long a final status stays readable (ms); script arguments start at 5.
-- Notification hashes (prefix .. id) hold reg app pl at dl st ck ft; they share the
-- client's hash tag, so touching them here is safe under Redis Cluster.
local CLIENT, APPS, REGS, QUEUE, DEADLINES, COLLAPSE = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local NOTE, BUS, NOW, KEEP = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])

-- End a pending notification: out of the queue, payload dropped, status kept for KEEP ms.
local function finish(id, status, finished)
  local key = NOTE .. id
  local fields = redis.call('HMGET', key, 'reg', 'ck', 'st')
  redis.call('ZREM', QUEUE, id)
  redis.call('ZREM', DEADLINES, id)
  if fields[2] and fields[3] == 'queued' then
    local slot = fields[1] .. ':' .. fields[2]
    if redis.call('HGET', COLLAPSE, slot) == id then
      redis.call('HDEL', COLLAPSE, slot)
    end
  end
  redis.call('HSET', key, 'st', status, 'ft', finished or NOW)
  redis.call('HDEL', key, 'pl')
  redis.call('PEXPIRE', key, KEEP)
end

-- Expire the pending notifications whose deadline has passed; returns how many.
local function sweep()
  local due = redis.call('ZRANGEBYSCORE', DEADLINES, '-inf', NOW, 'WITHSCORES', 'LIMIT', 0, 200)
  for i = 1, #due, 2 do
    finish(due[i], 'expired', due[i + 1])
  end
  return #due / 2
end

-- Tell the node holding a connection something (a doorbell, never data that matters).
local function tell(node, message)
  redis.call('PUBLISH', BUS .. node, message)
end

local function owns(node, conn)
  local owner = redis.call('HMGET', CLIENT, 'node', 'conn')
  return owner[1] == node and owner[2] == conn, owner[1], owner[2]
end
