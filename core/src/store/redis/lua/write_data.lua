-- ARGV: prefix, id, version read, data ('' = empty), now, idle. Returns 1 written,
-- 0 gone or expired, -1 changed meanwhile (the caller reads again and retries). `id` may have
-- been rotated since it was read: the write follows its in-grace alias (rotation keeps `ver`),
-- as the memory store's does.
local p, now, idle = ARGV[1], tonumber(ARGV[5]), tonumber(ARGV[6])
local id = resolve(p, ARGV[2], now)
if not id then return 0 end
local key = p .. ':s:' .. id
local h = fields(key)
if verdict(h, now, idle) ~= '' then return 0 end
if (h.ver or '0') ~= ARGV[3] then return -1 end
if ARGV[4] == '' then redis.call('HDEL', key, 'data') else redis.call('HSET', key, 'data', ARGV[4]) end
redis.call('HINCRBY', key, 'ver', 1)
return 1
