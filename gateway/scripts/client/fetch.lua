-- ARGV 5 epoch of the reading channel, 6 sequence already read, 7 how many.
-- Reads the next pending notifications in acceptance order and marks them sent.
-- Returns {expired, newly_sent, seq, id, reg, app, payload, accepted, ...},
-- or {-1} when the epoch moved on (the reader no longer owns the channel).
if redis.call('HGET', CLIENT, 'epoch') ~= ARGV[5] then
  return {-1}
end
local expired = sweep()
local rows = redis.call('ZRANGEBYSCORE', QUEUE, '(' .. ARGV[6], '+inf', 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[7]))
local out = {expired, 0}
for i = 1, #rows, 2 do
  local id = rows[i]
  local key = NOTE .. id
  local f = redis.call('HMGET', key, 'reg', 'app', 'pl', 'at', 'st', 'ck')
  if f[5] == 'queued' then
    if f[6] then
      local slot = f[1] .. ':' .. f[6]
      if redis.call('HGET', COLLAPSE, slot) == id then
        redis.call('HDEL', COLLAPSE, slot)
      end
    end
    redis.call('HSET', key, 'st', 'sent')
    out[2] = out[2] + 1
  end
  table.insert(out, rows[i + 1])
  table.insert(out, id)
  table.insert(out, f[1])
  table.insert(out, f[2])
  table.insert(out, f[3])
  table.insert(out, f[4])
end
return out
