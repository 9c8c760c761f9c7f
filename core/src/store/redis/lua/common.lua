-- Shared helpers, prepended to every Tessera script (Redis runs each script as one unit).
-- Key layout (docs/redis-schema.md): P:s:<id> session hash, P:a:<id> alias string
-- "<target>:<until>", P:u:<user> set of session ids, P:due sorted set of "<id><user>" members
-- (the user, if any, right after the id) and P:adue of alias ids, by the time they could first
-- expire; P:anon the anonymous session ids alone, scored the same way, where the max_sessions
-- cap evicts (its scores lag touches, as P:due's do: the insert re-files what it finds touched). Ids are 64 lowercase hex digits; times are Unix milliseconds. SCHEMA is prepended by
-- the store (codec::SCHEMA_VERSION); version 1 hashes (written before `auth` and `bind`
-- existed) are read as having neither.
local function fields(key)
  local raw = redis.call('HGETALL', key)
  local h = {}
  for i = 1, #raw, 2 do h[raw[i]] = raw[i + 1] end
  -- Refuse before any write: a script must never change a hash whose layout it does not know.
  if #raw > 0 and h.v ~= SCHEMA and h.v ~= '1' then
    error({err = 'tessera: session schema version ' .. tostring(h.v) ..
      ' is not supported (this Tessera writes ' .. SCHEMA .. ')'})
  end
  return h, raw
end

-- The P:due member of session `id` owned by `user` (nil: anonymous). The user rides along so
-- that a sweep that finds the hash gone (expired through its TTL) can still clear the user's
-- index entry.
local function due_member(id, user)
  return id .. (user or '')
end

-- Session id and user ('' = none) of a P:due member.
local function split_member(m)
  return string.sub(m, 1, 64), string.sub(m, 65)
end

-- The idle timeout in force for session `h` (Record::idle_ms): the configured `idle`, or the
-- session's own `maxidle` if shorter. Every liveness check, due time and TTL goes through it.
local function idle_of(h, idle)
  local own = tonumber(h.maxidle)
  if own and own < idle then return own end
  return idle
end

-- The liveness rule of record::check_live: absolute deadline first, then idle.
local function verdict(h, now, idle)
  if now >= tonumber(h.deadline) then return 'expired_absolute' end
  if now - tonumber(h.seen) >= idle_of(h, idle) then return 'expired_idle' end
  return ''
end

-- When session `h` could first expire if nobody touches it: its score in P:due.
local function due_at(h, idle)
  return math.min(tonumber(h.deadline), tonumber(h.seen) + idle_of(h, idle))
end

-- The primary session id `id` stands for: itself, or an in-grace alias's target.
local function resolve(p, id, now)
  if redis.call('EXISTS', p .. ':s:' .. id) == 1 then return id, 0 end
  local alias = redis.call('GET', p .. ':a:' .. id)
  if not alias then return nil, 0 end
  local sep = string.find(alias, ':', 1, true)
  local target, untl = string.sub(alias, 1, sep - 1), tonumber(string.sub(alias, sep + 1))
  if untl <= now then return nil, 0 end
  if redis.call('EXISTS', p .. ':s:' .. target) == 0 then return nil, 0 end
  return target, 1
end

-- Remove session `id` (hash `h`) with its index entries and its predecessor alias.
local function drop(p, id, h)
  redis.call('DEL', p .. ':s:' .. id)
  redis.call('ZREM', p .. ':due', due_member(id, h.user))
  if h.user then
    redis.call('SREM', p .. ':u:' .. h.user, id)
  else
    redis.call('ZREM', p .. ':anon', id)
  end
  if h.pred then
    redis.call('DEL', p .. ':a:' .. h.pred)
    redis.call('ZREM', p .. ':adue', h.pred)
  end
end

-- File session `id` (hash `h`) for the sweep at the time it could first expire, and for the
-- cap's evictions if it is anonymous.
local function file(p, id, h, idle)
  local due = due_at(h, idle)
  redis.call('ZADD', p .. ':due', due, due_member(id, h.user))
  if not h.user then redis.call('ZADD', p .. ':anon', due, id) end
end

-- Forget a P:due member whose hash vanished through its TTL, in every index.
local function forget(p, member)
  local id, owner = split_member(member)
  redis.call('ZREM', p .. ':due', member)
  if owner ~= '' then
    redis.call('SREM', p .. ':u:' .. owner, id)
  else
    redis.call('ZREM', p .. ':anon', id)
  end
end

local function ttl(h, now, idle, slack)
  return math.max(1, math.min(idle_of(h, idle), tonumber(h.deadline) - now) + slack)
end

-- How far `seen` may lag the last use before a lookup writes it (store::touch_slack_ms): 1/64
-- of the effective idle timeout, at most 60 s. Validate is then a read in the common case.
local function touch_slack(idle)
  return math.min(math.floor(idle / 64), 60000)
end
