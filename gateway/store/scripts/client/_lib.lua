-- Shared prologue of the client scripts. A script gets the lines above the first
-- section, then each section below (a line `--@ NAME...` up to the next) whose names it
-- uses, or that a section it gets uses (store/scripting.py): every name costs each call
-- of a script that defines it, used or not.
-- KEYS[1] is the client hash, aoi:{tag}:client; the client's other keys share its
-- prefix and so its hash tag and slot (safe to touch under Redis Cluster):
--   apps (applicationID -> registrationID), regs (registrationID -> applicationID),
--   queue (notificationID -> sequence), deadlines (notificationID -> deadline ms),
--   collapse ("registrationID:collapseKey" -> notificationID), n:<id> (notification hashes:
--   reg app pl at dl st ck ft), idem:<registrationID>:<key> (notificationID of an idempotent
--   send, kept as long as a final status).
-- ARGV: 1 bus channel prefix (for tell), 2 now (ms), 3 how long a final status stays readable (ms);
-- script arguments start at 4. NOW and KEEP stay strings: that is what Redis takes, and
-- each conversion of a Lua number back to a string costs a printf (Lua turns them into
-- numbers where summed).
local CLIENT = KEYS[1]
local BASE = string.sub(CLIENT, 1, -7)
local NOW, KEEP = ARGV[2], ARGV[3]

--@ TAG
local TAG = string.match(CLIENT, '{(.-)}')
--@ APPS
local APPS = BASE .. 'apps'
--@ REGS
local REGS = BASE .. 'regs'
--@ QUEUE
local QUEUE = BASE .. 'queue'
--@ DEADLINES
local DEADLINES = BASE .. 'deadlines'
--@ COLLAPSE
local COLLAPSE = BASE .. 'collapse'
--@ NOTE
local NOTE = BASE .. 'n:'

--@ finish
-- End a pending notification: out of the queue, payload dropped, status kept for KEEP ms.
-- `fields` are its hash's reg, ck and st when the caller has read them already.
local function finish(id, status, finished, fields)
  local key = NOTE .. id
  fields = fields or redis.call('HMGET', key, 'reg', 'ck', 'st')
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

--@ sweep
-- Expire the pending notifications whose deadline has passed; returns how many.
local function sweep()
  local due = redis.call('ZRANGEBYSCORE', DEADLINES, '-inf', NOW, 'WITHSCORES', 'LIMIT', 0, 200)
  for i = 1, #due, 2 do
    finish(due[i], 'expired', due[i + 1])
  end
  return #due / 2
end

--@ tell told
-- Tell the node holding a connection something (a doorbell, never data that matters).
-- The caller publishes it once the script answered: on Redis Cluster the node's bus
-- channel may live on another shard, out of a script's reach. told() appends the
-- channel and the message (or false, false) to a script's reply.
local TELL = {false, false}
local function tell(node, message)
  TELL = {ARGV[1] .. node, message}
end

local function told(reply)
  table.insert(reply, TELL[1])
  table.insert(reply, TELL[2])
  return reply
end

--@ owns
local function owns(node, conn)
  local owner = redis.call('HMGET', CLIENT, 'node', 'conn')
  return owner[1] == node and owner[2] == conn, owner[1], owner[2]
end

--@ remove_client
-- Remove the whole client; its pending notifications end cancelled. The node that
-- holds its channel, if another connection than (node, conn), is told to close it
-- with 4002. Returns {deviceNumber, expired, cancelled}.
local function remove_client(node, conn)
  local expired = sweep()
  local pending = redis.call('ZRANGE', QUEUE, 0, -1)
  for _, id in ipairs(pending) do
    finish(id, 'cancelled')
  end
  local same, owner, owner_conn = owns(node, conn)
  local device = redis.call('HGET', CLIENT, 'dev')
  redis.call('DEL', CLIENT, APPS, REGS, QUEUE, DEADLINES, COLLAPSE)
  if owner and not same then
    tell(owner, 'close ' .. owner_conn .. ' 4002')
  end
  return {device, expired, #pending}
end

--@ seen
-- Record that the client was seen in period `period` (a coarse clock, see
-- store/expiry.py); returns 1 when that is news, so the node re-files the client.
-- `last` is the client's `seen` field when the caller has read it already.
local function seen(period, last)
  if (last or redis.call('HGET', CLIENT, 'seen')) == period then
    return 0
  end
  redis.call('HSET', CLIENT, 'seen', period)
  return 1
end

--@ refused
-- Whether a request may touch the client `id`: 404 when CLIENT is not that client, 403 when
-- `device` (the connection's authenticated deviceNumber, '' without device authentication)
-- is not the deviceNumber that registered it; nil when it may. Checked before any change.
local function refused(id, device)
  local f = redis.call('HMGET', CLIENT, 'id', 'dev')
  if f[1] ~= id then
    return 404
  end
  if device ~= '' and f[2] ~= device then
    return 403
  end
  return nil
end

--@ covers
-- Whether an API key's scope covers an application: '' covers every one, else the scope
-- holds each applicationID it covers between newlines.
local function covers(scope, app)
  return scope == '' or string.find(scope, '\n' .. app .. '\n', 1, true) ~= nil
end

--@ unreachable
-- Whether a request may touch the notification `id`: 404 when it is unknown, 403 when
-- `scope` does not cover its application (see covers); nil when it may.
local function unreachable(id, scope)
  local app = redis.call('HGET', NOTE .. id, 'app')
  if not app then
    return 404
  end
  if not covers(scope, app) then
    return 403
  end
  return nil
end
