-- Deletes only when the consumer exists, holds no pending entry and has been idle at least ARGV[3] ms,
-- all checked and done in one atomic script: XGROUP DELCONSUMER destroys a consumer's pending entries,
-- so the check and the delete must not be separable (a worker could read between them).
-- Returns 1 deleted, 0 no such consumer, -1 holds pending entries, -2 not idle long enough, -3 no group.
local ok, consumers = pcall(redis.call, 'XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
if not ok then return -3 end
for _, c in ipairs(consumers) do
  local name, pending, idle
  for i = 1, #c, 2 do
    local k = c[i]
    if k == 'name' then name = c[i + 1] elseif k == 'pending' then pending = c[i + 1] elseif k == 'idle' then idle = c[i + 1] end
  end
  if name == ARGV[2] then
    if pending > 0 then return -1 end
    if idle < tonumber(ARGV[3]) then return -2 end
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
    return 1
  end
end
return 0
