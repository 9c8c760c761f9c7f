-- ARGV: prefix, id, now, idle. Returns {status, target id, version, data}: status 1 live,
-- 0 missing or expired (a write to it must fail with `unknown`).
local p, now, idle = ARGV[1], tonumber(ARGV[3]), tonumber(ARGV[4])
local id = resolve(p, ARGV[2], now)
if not id then return {0, '', '0', ''} end
local h = fields(p .. ':s:' .. id)
if verdict(h, now, idle) ~= '' then return {0, '', '0', ''} end
return {1, id, h.ver or '0', h.data or ''}
