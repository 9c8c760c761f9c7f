-- ARGV: prefix, id, now, idle, slack, touch ('1' may write `seen`, '0' never). Returns
-- {status, via_alias, reason, fields, id}: status 0 missing, 1 live (touched if due), 2 expired
-- (untouched), 3 live and untouched for Rust to judge: a record with a `bind` field (its gate
-- is judged in Rust, before any touch: see `touch.lua`), or any live record when touch is '0'.
-- The live path is one HGETALL (no EXISTS first, since validate runs on every request); `seen`
-- and the TTL are written only once `seen` lags by more than the touch slack.
local p, now, idle, slack = ARGV[1], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local id, via = ARGV[2], 0
local key = p .. ':s:' .. id
local h, raw = fields(key)
if #raw == 0 then
  local alias = redis.call('GET', p .. ':a:' .. id)
  if not alias then return {0, 0, '', {}, ''} end
  local sep = string.find(alias, ':', 1, true)
  if tonumber(string.sub(alias, sep + 1)) <= now then return {0, 0, '', {}, ''} end
  id, via = string.sub(alias, 1, sep - 1), 1
  key = p .. ':s:' .. id
  h, raw = fields(key)
  if #raw == 0 then return {0, 0, '', {}, ''} end
end
local why = verdict(h, now, idle)
if why ~= '' then return {2, via, why, raw, id} end
-- A bound session is touched only for a request that proved its device: never here.
if h.bind or ARGV[6] ~= '1' then return {3, via, '', raw, id} end
if now - tonumber(h.seen) > touch_slack(idle_of(h, idle)) then
  h.seen = ARGV[3]
  redis.call('HSET', key, 'seen', ARGV[3])
  redis.call('PEXPIRE', key, ttl(h, now, idle, slack))
end
return {1, via, '', raw, id}
