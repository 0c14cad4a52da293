-- Replays one dead letter, atomically: appends its original fields to the origin stream as a new
-- entry (plus `replayed_from` = the entry id it had in the origin stream) and deletes the dead letter.
-- A dead letter that is gone already (replayed or purged by someone else) returns false and changes
-- nothing, so concurrent replays put each dead letter into the origin stream exactly once.
-- KEYS[1] dead-letter stream, KEYS[2] origin stream; ARGV[1] the dead letter's entry id.
local found = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #found == 0 then
  return false
end
local fields = found[1][2]
local out = {}
local origin = ARGV[1]
for i = 1, #fields, 2 do
  local name = fields[i]
  if name == 'dlq_origin_id' then
    origin = fields[i + 1]
  elseif string.sub(name, 1, 4) ~= 'dlq_' and name ~= 'replayed_from' then
    out[#out + 1] = name
    out[#out + 1] = fields[i + 1]
  end
end
out[#out + 1] = 'replayed_from'
out[#out + 1] = origin
local id = redis.call('XADD', KEYS[2], '*', unpack(out))
redis.call('XDEL', KEYS[1], ARGV[1])
return id
