-- ARGV: prefix, id, now, idle. Removes the session `id` names (directly or as an in-grace
-- alias). Returns {} or {id, user, expired reason ('' if it was alive)}.
local p, given, now, idle = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local id, via = resolve(p, given, now)
if not id then return {} end
local h = fields(p .. ':s:' .. id)
drop(p, id, h)
if via == 1 then
  redis.call('DEL', p .. ':a:' .. given)
  redis.call('ZREM', p .. ':adue', given)
end
return {id, h.user or '', verdict(h, now, idle)}
