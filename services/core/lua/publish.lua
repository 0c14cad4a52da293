-- One Lua script per batch, so a batch is appended all-or-nothing and concurrent publishers of the
-- same `source`+`id` cannot both append it.
--
-- KEYS[1] = the stream; KEYS[2..] = the idempotency markers of the events that carry a client id,
-- in event order. ARGV[1] = MAXLEN (0 = never trim), ARGV[2] = marker TTL in seconds, ARGV[3] = the
-- number of events; then per event: the index of its marker key in KEYS (0 = no marker), the number
-- of field strings, the field strings.
--
-- Returns `{ ids, dups }`: the entry id of each event (the first entry's id for a duplicate) and
-- 1/0 per event for "was a duplicate". Every marker is checked before anything is written, so a
-- script that fails on its first write (e.g. OOM under `noeviction`) has appended nothing; Redis runs
-- a script without interleaving other commands.
local stream = KEYS[1]
local maxlen = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local ids = {}
local dups = {}
local seen = {}
local pos = 4
local plan = {}
for i = 1, n do
  local k = tonumber(ARGV[pos])
  local nf = tonumber(ARGV[pos + 1])
  plan[i] = { k, pos + 2, nf }
  pos = pos + 2 + nf
  if k > 0 and seen[k] == nil then
    local existing = redis.call('GET', KEYS[k])
    if existing then seen[k] = existing end
  end
end
for i = 1, n do
  local k, first, nf = plan[i][1], plan[i][2], plan[i][3]
  if k > 0 and seen[k] then
    ids[i] = seen[k]
    dups[i] = 1
  else
    local id
    if maxlen > 0 then
      id = redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', unpack(ARGV, first, first + nf - 1))
    else
      id = redis.call('XADD', stream, '*', unpack(ARGV, first, first + nf - 1))
    end
    if k > 0 then
      redis.call('SET', KEYS[k], id, 'EX', ttl)
      seen[k] = id
    end
    ids[i] = id
    dups[i] = 0
  end
end
return { ids, dups }
