-- ARGV: prefix, id, now, idle, slack, max_sessions (0 = no cap), then field/value pairs.
-- Returns {1, then an id and a reason ('' = evicted) per session ended to make room}, {0} on
-- an id clash, or {2} for an anonymous session that finds no room (store_full).
local p, id, now, idle, slack = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local max = tonumber(ARGV[6])
local key = p .. ':s:' .. id
if redis.call('EXISTS', key) == 1 or redis.call('EXISTS', p .. ':a:' .. id) == 1 then return {0} end
local h = {}
for i = 7, #ARGV, 2 do h[ARGV[i]] = ARGV[i + 1] end
local out = {1}
if max > 0 then
  -- End anonymous sessions, the soonest to expire idle first, until there is room. P:due
  -- counts every session (ones vanished through their TTL too, until found). Bounded work per
  -- insert: a store full of sessions touched since they were filed may need several inserts.
  local budget = 64
  while budget > 0 and redis.call('ZCARD', p .. ':due') >= max do
    budget = budget - 1
    local first = redis.call('ZRANGE', p .. ':anon', 0, 0, 'WITHSCORES')
    if #first == 0 then break end
    local victim, filed = first[1], tonumber(first[2])
    local vkey = p .. ':s:' .. victim
    if redis.call('EXISTS', vkey) == 0 then
      forget(p, due_member(victim, nil))
    else
      local vh = fields(vkey)
      local due = due_at(vh, idle)
      if vh.user then
        redis.call('ZREM', p .. ':anon', victim)
      elseif due > filed then
        -- Touched since it was filed: file it where it belongs now.
        redis.call('ZADD', p .. ':anon', due, victim)
      else
        drop(p, victim, vh)
        table.insert(out, victim)
        table.insert(out, verdict(vh, now, idle))
      end
    end
  end
  if not h.user and redis.call('ZCARD', p .. ':due') >= max then return {2} end
end
for i = 7, #ARGV, 2 do redis.call('HSET', key, ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIRE', key, ttl(h, now, idle, slack))
file(p, id, h, idle)
if h.user then redis.call('SADD', p .. ':u:' .. h.user, id) end
return out
