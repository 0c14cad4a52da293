-- Deletes consumer ARGV[2] of group ARGV[1] on stream KEYS[1] only when it holds no pending entry
-- (XGROUP DELCONSUMER would drop them). Returns its pending count: 0 means it was deleted.
local summary = redis.call('XPENDING', KEYS[1], ARGV[1])
for _, c in ipairs(summary[4] or {}) do
  if c[1] == ARGV[2] then return tonumber(c[2]) end
end
redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
return 0
