-- ARGV: prefix, user. Returns the fields of every session in the user's index, and drops index
-- members whose session is gone (expired through its TTL, or removed).
local p, user = ARGV[1], ARGV[2]
local index = p .. ':u:' .. user
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', index)) do
  local key = p .. ':s:' .. id
  if redis.call('EXISTS', key) == 1 then
    local _, raw = fields(key)
    table.insert(out, id)
    table.insert(out, raw)
  else
    redis.call('SREM', index, id)
  end
end
return out
