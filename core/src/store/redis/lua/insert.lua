-- ARGV: prefix, id, now, idle, slack, then field/value pairs. Returns 1, or 0 on an id clash.
local p, id, now, idle, slack = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local key = p .. ':s:' .. id
if redis.call('EXISTS', key) == 1 or redis.call('EXISTS', p .. ':a:' .. id) == 1 then return 0 end
local h = {}
for i = 6, #ARGV, 2 do
  redis.call('HSET', key, ARGV[i], ARGV[i + 1])
  h[ARGV[i]] = ARGV[i + 1]
end
redis.call('PEXPIRE', key, ttl(h, now, idle, slack))
redis.call('ZADD', p .. ':due', due_at(h, idle), due_member(id, h.user))
if h.user then redis.call('SADD', p .. ':u:' .. h.user, id) end
return 1
