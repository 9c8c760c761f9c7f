-- ARGV: prefix, id, now, idle, slack, max_idle ('' = the configured one), deadline. Sets the
-- per-session expiry of the live session `id` names (directly or as an in-grace alias), without
-- touching `seen`. Returns {} if there is none or it has expired (it stays expired: restoring a
-- longer expiry must not revive it), else {id, fields as changed}.
local p, now, idle, slack = ARGV[1], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local id = resolve(p, ARGV[2], now)
if not id then return {} end
local key = p .. ':s:' .. id
if verdict(fields(key), now, idle) ~= '' then return {} end
if ARGV[6] == '' then
  redis.call('HDEL', key, 'maxidle')
else
  redis.call('HSET', key, 'maxidle', ARGV[6])
end
redis.call('HSET', key, 'deadline', ARGV[7])
local h, raw = fields(key)
-- Re-scored (ZADD replaces the score), so a sweep at the new due time finds it even when it
-- moved earlier; the TTL is recomputed too, so a shortened session does not linger in Redis.
file(p, id, h, idle)
redis.call('PEXPIRE', key, ttl(h, now, idle, slack))
return {id, raw}
