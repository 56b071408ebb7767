-- ARGV 4 epoch of the channel, 5 sequence already read, 6 how many to read, 7 how many
-- notificationIDs follow that were written to the channel from a doorbell (their
-- ``sent`` is recorded here), then pairs (notificationID, delivered|rejected) of
-- acknowledgements.
-- One round trip per channel step: record what was written and apply the
-- acknowledgements (whatever the epoch: the device did get them), then, unless the
-- epoch moved on, read the next pending notifications in acceptance order and mark
-- them sent.
-- Returns {fenced (0 or 1), expired, newly_sent, accepted time or false per
-- acknowledgement..., then seq, id, reg, app, payload, accepted per notification...}.
local out = {0, 0, 0}

-- Record a queued notification as written to the channel (no longer collapsible).
local function mark_sent(id, key, reg, collapse)
  if collapse then
    local slot = reg .. ':' .. collapse
    if redis.call('HGET', COLLAPSE, slot) == id then
      redis.call('HDEL', COLLAPSE, slot)
    end
  end
  redis.call('HSET', key, 'st', 'sent')
  out[3] = out[3] + 1
end

local marks = tonumber(ARGV[7])
-- A mark acknowledged in the same step needs no write of its own: the
-- acknowledgement below counts it as sent and gives it its final status.
local acked = {}
for i = 8 + marks, #ARGV, 2 do
  acked[ARGV[i]] = true
end
for i = 8, 7 + marks do
  local id = ARGV[i]
  if not acked[id] then
    local key = NOTE .. id
    local f = redis.call('HMGET', key, 'st', 'reg', 'ck')
    if f[1] == 'queued' then
      mark_sent(id, key, f[2], f[3])
    end
  end
end
for i = 8 + marks, #ARGV, 2 do
  local id = ARGV[i]
  -- Pending (in the queue) is exactly the statuses queued and sent: finish() takes a
  -- notification out of the queue as it gives it its final status, in one script.
  local f = redis.call('HMGET', NOTE .. id, 'reg', 'ck', 'st', 'at')
  if f[3] == 'queued' or f[3] == 'sent' then
    if f[3] == 'queued' then
      out[3] = out[3] + 1  -- written from a doorbell, its mark in this step
    end
    table.insert(out, f[4])
    finish(id, ARGV[i + 1], nil, f)
  else
    table.insert(out, false)
  end
end
if redis.call('HGET', CLIENT, 'epoch') ~= ARGV[4] then
  out[1] = 1
  return out
end
out[2] = sweep()
local limit = tonumber(ARGV[6])
if limit < 1 then
  return out
end
local rows = redis.call('ZRANGEBYSCORE', QUEUE, '(' .. ARGV[5], '+inf', 'WITHSCORES', 'LIMIT', 0, limit)
for i = 1, #rows, 2 do
  local id = rows[i]
  local key = NOTE .. id
  local f = redis.call('HMGET', key, 'reg', 'app', 'pl', 'at', 'st', 'ck')
  if f[5] == 'queued' then
    mark_sent(id, key, f[1], f[6])
  end
  table.insert(out, rows[i + 1])
  table.insert(out, id)
  table.insert(out, f[1])
  table.insert(out, f[2])
  table.insert(out, f[3])
  table.insert(out, f[4])
end
return out
