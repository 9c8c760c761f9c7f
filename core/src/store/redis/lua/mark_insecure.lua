-- ARGV: prefix, id, now, idle. Marks the live session `id` names (directly or as an in-grace
-- alias) as used over plain HTTP (`secure` 0). Returns 1 if one was marked, else 0.
local p, now, idle = ARGV[1], tonumber(ARGV[3]), tonumber(ARGV[4])
local id = resolve(p, ARGV[2], now)
if not id then return 0 end
local key = p .. ':s:' .. id
if verdict(fields(key), now, idle) ~= '' then return 0 end
redis.call('HSET', key, 'secure', '0')
return 1
