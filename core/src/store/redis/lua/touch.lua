-- ARGV: prefix, id, now, idle, slack, bind ('' = none). Moves `seen` (and the TTL) of the live
-- session primary under `id` to now, once it lags by more than the touch slack, if its `bind`
-- field is still the text Rust judged the request against (a concurrent registration, refresh
-- or unbind makes that judgement stale: then nothing is written). Returns 1 if written, else 0.
local p, now, idle, slack = ARGV[1], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local key = p .. ':s:' .. ARGV[2]
local h, raw = fields(key)
if #raw == 0 or verdict(h, now, idle) ~= '' then return 0 end
if (h.bind or '') ~= ARGV[6] then return 0 end
if now - tonumber(h.seen) <= touch_slack(idle_of(h, idle)) then return 0 end
h.seen = ARGV[3]
redis.call('HSET', key, 'seen', ARGV[3])
redis.call('PEXPIRE', key, ttl(h, now, idle, slack))
return 1
