-- ARGV: prefix, id, now, idle, slack. Returns {status, via_alias, reason, fields, id}:
-- status 0 missing, 1 live (touched), 2 expired (untouched).
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
if now - tonumber(h.seen) > touch_slack(idle_of(h, idle)) then
  h.seen = ARGV[3]
  redis.call('HSET', key, 'seen', ARGV[3])
  redis.call('PEXPIRE', key, ttl(h, now, idle, slack))
end
return {1, via, '', raw, id}
