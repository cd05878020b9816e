-- GCRA for one client in one bucket, atomically, on Redis's own clock (so the
-- instances' clocks do not matter). Times in microseconds.
-- KEYS[1]: the state key (holds the theoretical arrival time, TAT)
-- ARGV[1]: emission interval; ARGV[2]: limit (the burst)
-- Returns {allowed (1|0), microseconds: until full (allowed) or until retry (refused)}.
local interval = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then
  tat = now
end
local allow_at = tat - (limit - 1) * interval
if now < allow_at then
  return {0, allow_at - now}
end
tat = tat + interval
-- Kept until the budget is whole again; past that a missing key means the same.
redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000))
return {1, tat - now}
