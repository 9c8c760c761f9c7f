-- ARGV: prefix, now, idle, batch. Examines the sessions and aliases that came due by `now`,
-- removes what expired (or vanished through its TTL), re-files the rest. Returns a flat array
-- of {id, user, reason} triples; the caller repeats while a full batch came back.
local p, now, idle, batch = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local out = {}
local due = redis.call('ZRANGEBYSCORE', p .. ':due', '-inf', now, 'LIMIT', 0, batch)
for _, member in ipairs(due) do
  local id = split_member(member)
  local key = p .. ':s:' .. id
  if redis.call('EXISTS', key) == 0 then
    -- Gone through its TTL: its user's index entry goes too, or that set would only grow.
    forget(p, member)
  else
    local h = fields(key)
    local why = verdict(h, now, idle)
    if why ~= '' then
      drop(p, id, h)
      table.insert(out, id)
      table.insert(out, h.user or '')
      table.insert(out, why)
    else
      file(p, id, h, idle)
    end
  end
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', p .. ':adue', '-inf', now, 'LIMIT', 0, batch)) do
  redis.call('DEL', p .. ':a:' .. id)
  redis.call('ZREM', p .. ':adue', id)
end
table.insert(out, #due)
return out
