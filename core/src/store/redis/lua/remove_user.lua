-- ARGV: prefix, user, keep id ('' = none), now, idle. Removes every session of `user` except
-- the one `keep` names (directly or as an in-grace alias), atomically. Returns a flat array of
-- {id, expired reason} pairs.
local p, user, keep, now, idle = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local index = p .. ':u:' .. user
if keep ~= '' then keep = resolve(p, keep, now) or '' end
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', index)) do
  if id ~= keep then
    local key = p .. ':s:' .. id
    if redis.call('EXISTS', key) == 1 then
      local h = fields(key)
      if h.user == user then
        drop(p, id, h)
        table.insert(out, id)
        table.insert(out, verdict(h, now, idle))
      end
    end
    redis.call('SREM', index, id)
  end
end
return out
