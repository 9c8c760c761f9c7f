-- ARGV: prefix, now, idle, batch. Removes up to `batch` sessions and `batch` aliases (for
-- revoke_all). Returns {entries processed, sessions that were alive}; the caller repeats until
-- nothing was processed.
local p, now, idle, batch = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local ids = redis.call('ZRANGE', p .. ':due', 0, batch - 1)
local alive = 0
for _, member in ipairs(ids) do
  local id = split_member(member)
  local key = p .. ':s:' .. id
  if redis.call('EXISTS', key) == 1 then
    local h = fields(key)
    if verdict(h, now, idle) == '' then alive = alive + 1 end
    drop(p, id, h)
  else
    forget(p, member)
  end
end
local aliases = redis.call('ZRANGE', p .. ':adue', 0, batch - 1)
for _, id in ipairs(aliases) do
  redis.call('DEL', p .. ':a:' .. id)
  redis.call('ZREM', p .. ':adue', id)
end
return {#ids + #aliases, alive}
