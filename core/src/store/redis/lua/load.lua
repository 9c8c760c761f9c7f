-- ARGV: prefix, id, now, idle, slack. Returns {status, via_alias, reason, fields, id}:
-- status 0 missing, 1 live (touched), 2 expired (untouched).
local p, now, idle, slack = ARGV[1], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local id, via = resolve(p, ARGV[2], now)
if not id then return {0, 0, '', {}, ''} end
local key = p .. ':s:' .. id
local h, raw = fields(key)
local why = verdict(h, now, idle)
if why ~= '' then return {2, via, why, raw, id} end
if now > tonumber(h.seen) then redis.call('HSET', key, 'seen', ARGV[3]) end
redis.call('PEXPIRE', key, ttl(h, now, idle, slack))
return {1, via, '', raw, id}
