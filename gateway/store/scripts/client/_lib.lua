-- Shared prologue of every client script (prepended when scripts load).
-- KEYS[1] is the client hash, aoi:{tag}:client; the client's other keys share its
-- prefix and so its hash tag and slot (safe to touch under Redis Cluster):
--   apps (applicationID -> registrationID), regs (registrationID -> applicationID),
--   queue (notificationID -> sequence), deadlines (notificationID -> deadline ms),
--   collapse ("registrationID:collapseKey" -> notificationID), n:<id> (notification hashes:
--   reg app pl at dl st ck ft).
-- ARGV: 1 bus channel prefix (for tell), 2 now (ms), 3 how long a final status stays readable (ms);
-- script arguments start at 4.
local CLIENT = KEYS[1]
local BASE = string.sub(CLIENT, 1, -7)
local TAG = string.match(CLIENT, '{(.-)}')
local APPS, REGS, QUEUE = BASE .. 'apps', BASE .. 'regs', BASE .. 'queue'
local DEADLINES, COLLAPSE, NOTE = BASE .. 'deadlines', BASE .. 'collapse', BASE .. 'n:'
local BUS, NOW, KEEP = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])

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
-- The caller publishes it once the script answered: on Redis Cluster the node's bus
-- channel may live on another shard, out of a script's reach. told() appends the
-- channel and the message (or false, false) to a script's reply.
local TELL = {false, false}
local function tell(node, message)
  TELL = {BUS .. node, message}
end

local function told(reply)
  table.insert(reply, TELL[1])
  table.insert(reply, TELL[2])
  return reply
end

local function owns(node, conn)
  local owner = redis.call('HMGET', CLIENT, 'node', 'conn')
  return owner[1] == node and owner[2] == conn, owner[1], owner[2]
end
