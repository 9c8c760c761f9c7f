-- ARGV: prefix, id, version read, data ('' = empty), now, idle. Returns 1 written,
-- 0 gone or expired, -1 changed meanwhile (the caller reads again and retries).
local p, id, now, idle = ARGV[1], ARGV[2], tonumber(ARGV[5]), tonumber(ARGV[6])
local key = p .. ':s:' .. id
if redis.call('EXISTS', key) == 0 then return 0 end
local h = fields(key)
if verdict(h, now, idle) ~= '' then return 0 end
if (h.ver or '0') ~= ARGV[3] then return -1 end
if ARGV[4] == '' then redis.call('HDEL', key, 'data') else redis.call('HSET', key, 'data', ARGV[4]) end
redis.call('HINCRBY', key, 'ver', 1)
return 1
