-- ARGV: prefix, old id, new id, now, idle, slack, alias_until ('' = none), secure ('1'/'0'),
-- login ('1'/'0'), user, expected_user ('' = anonymous), csrf, deadline, keep_data ('1'/'0'),
-- user_agent ('' = keep), auth (Authenticated::to_stored), binding ('keep', or 'set' with the
-- text next, or 'drop'), bind text. A rotation (login '0') keeps `auth` and `bind` as RENAME
-- carries them. Returns the new fields, or an empty array if `old` is not a live primary
-- session (or, for a login, no longer belongs to expected_user).
local p, old, new = ARGV[1], ARGV[2], ARGV[3]
local now, idle, slack = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local oldkey, newkey = p .. ':s:' .. old, p .. ':s:' .. new
if redis.call('EXISTS', oldkey) == 0 then return {} end
local h = fields(oldkey)
if verdict(h, now, idle) ~= '' then return {} end
local login = ARGV[9] == '1'
if login and (h.user or '') ~= ARGV[11] then return {} end
-- Checked before any write (a script has no rollback).
if login and ARGV[17] ~= 'keep' and ARGV[17] ~= 'set' and ARGV[17] ~= 'drop' then
  return redis.error_reply('tessera: unknown binding change')
end
if redis.call('EXISTS', newkey) == 1 then return redis.error_reply('session id collision') end
redis.call('RENAME', oldkey, newkey)
redis.call('HSET', newkey, 'rotated', ARGV[4], 'seen', ARGV[4])
-- The flag follows the transport the token last travelled on.
redis.call('HSET', newkey, 'secure', ARGV[8])
-- The alias the old id had (its predecessor) ends: only the immediately preceding token lives.
if h.pred then
  redis.call('DEL', p .. ':a:' .. h.pred)
  redis.call('ZREM', p .. ':adue', h.pred)
end
if ARGV[7] ~= '' then
  local untl = tonumber(ARGV[7])
  redis.call('SET', p .. ':a:' .. old, new .. ':' .. ARGV[7], 'PX', math.max(1, untl - now + slack))
  redis.call('ZADD', p .. ':adue', untl, old)
  redis.call('HSET', newkey, 'pred', old)
else
  redis.call('HDEL', newkey, 'pred')
end
local user = h.user
if login then
  user = ARGV[10]
  redis.call('HSET', newkey, 'user', user, 'csrf', ARGV[12], 'created', ARGV[4], 'deadline', ARGV[13])
  if ARGV[14] ~= '1' then
    redis.call('HDEL', newkey, 'data')
    redis.call('HINCRBY', newkey, 'ver', 1)
  end
  if ARGV[15] ~= '' then redis.call('HSET', newkey, 'ua', ARGV[15]) end
  -- A hash that holds `auth` is of this schema version, whatever it was written as.
  redis.call('HSET', newkey, 'auth', ARGV[16], 'v', SCHEMA)
  if ARGV[17] == 'set' then
    redis.call('HSET', newkey, 'bind', ARGV[18])
  elseif ARGV[17] == 'drop' then
    redis.call('HDEL', newkey, 'bind')
  end
end
if h.user then redis.call('SREM', p .. ':u:' .. h.user, old) end
if user then redis.call('SADD', p .. ':u:' .. user, new) end
local nh, raw = fields(newkey)
redis.call('ZREM', p .. ':due', due_member(old, h.user))
if not h.user then redis.call('ZREM', p .. ':anon', old) end
file(p, new, nh, idle)
redis.call('PEXPIRE', newkey, ttl(nh, now, idle, slack))
return raw
