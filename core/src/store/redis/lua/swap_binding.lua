-- ARGV: prefix, id, now, idle, expected `bind` text ('' = none), new text ('' = none). Replaces
-- the `bind` field of the live session primary under `id` (no alias followed) if it is still
-- the expected text, and writes nothing else but the schema version (a hash that holds `bind`
-- is version SCHEMA). Returns {1} done, {2, stored text} changed (Rust compares by value and
-- may retry with the stored text), {0} gone (missing or expired).
local p, now, idle = ARGV[1], tonumber(ARGV[3]), tonumber(ARGV[4])
local key = p .. ':s:' .. ARGV[2]
local h, raw = fields(key)
if #raw == 0 or verdict(h, now, idle) ~= '' then return {0} end
local stored = h.bind or ''
if stored ~= ARGV[5] then return {2, stored} end
if ARGV[6] == '' then
  redis.call('HDEL', key, 'bind')
else
  redis.call('HSET', key, 'bind', ARGV[6], 'v', SCHEMA)
end
return {1}
