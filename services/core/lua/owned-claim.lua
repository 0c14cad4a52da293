-- Owner-checked claims in one round trip. For each id, XPENDING tells who holds it; only ids still
-- held by ARGV[2] are claimed again, so a worker never takes back an entry another consumer reclaimed
-- (after this worker lost its connection for longer than CLAIM_IDLE_MS).
-- Modes: `fresh` = XCLAIM … JUSTID (resets the idle time, no delivery counted: keeps a running entry
-- from being reclaimed); `retry` = XCLAIM (counts a delivery, returns the entries); `count` = no claim,
-- returns the delivery counters; `handback` = XCLAIM … IDLE ARGV[4] JUSTID (marks entries idle for
-- ARGV[4] ms, so other workers' next XAUTOCLAIM takes them at once).
-- Returns { ids no longer held by this consumer, claimed entries (retry) or [id, count] pairs (count) }.
local mine, lost, counts = {}, {}, {}
for i = 5, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if p[1] and p[1][2] == ARGV[2] then
    mine[#mine + 1] = ARGV[i]
    counts[#counts + 1] = {ARGV[i], p[1][4]}
  else
    lost[#lost + 1] = ARGV[i]
  end
end
if ARGV[3] == 'count' or #mine == 0 then return {lost, counts} end
local args = {KEYS[1], ARGV[1], ARGV[2], 0}
for i = 1, #mine do args[#args + 1] = mine[i] end
if ARGV[3] == 'handback' then
  args[#args + 1] = 'IDLE'
  args[#args + 1] = ARGV[4]
end
if ARGV[3] == 'fresh' or ARGV[3] == 'handback' then
  args[#args + 1] = 'JUSTID'
  redis.call('XCLAIM', unpack(args))
  return {lost, {}}
end
return {lost, redis.call('XCLAIM', unpack(args))}
