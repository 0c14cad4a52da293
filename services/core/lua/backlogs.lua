-- For each stream of KEYS, atomically (one call covers SCRIPT_BATCH (lag-script.ts) streams): XINFO GROUPS
-- (`no such key` or `WRONGTYPE`: missing or not a stream, `-`; any other error fails the call), XLEN, the first entry's id, and per group only
-- what its position needs (the rules of groupPosition (lag-model.ts)): a group before the first entry
-- nothing; any other reads the entries after its last-delivered-id (COUNT 1 when Redis' lag can be
-- exact, else the bounded count; none found = caught up); a group with pending entries its smallest
-- pending id. The last entry's id only when a count reached the limit. Read-only.
--
-- The reply is flat and small, because every value Redis hands back costs more to decode in Node
-- than to compute in Redis: per stream one string of space-separated ids and numbers —
-- `length first last groups` then, per group, `consumers pending last-delivered-id entries-read lag
-- position first-undelivered count last-counted smallest-pending` (`` for none, `u` for a field
-- Redis < 7 does not have, `n` for NULL) — followed by the group names as separate bulk strings
-- (names may hold any byte). Numbers are written exactly (`%.0f` past Lua's 14-digit default).
local limit = tonumber(ARGV[1])
local wanted = nil
if #ARGV > 1 then
  wanted = {}
  for i = 2, #ARGV do wanted[ARGV[i]] = true end
end
local function num(x)
  if x > -1e14 and x < 1e14 then return x end
  return string.format('%.0f', x)
end
local out = {}
local n = 0
for k = 1, #KEYS do
  local key = KEYS[k]
  local groups = redis.pcall('XINFO', 'GROUPS', key)
  if groups['err'] then
    -- Missing or not a stream: left out. Any other error (an ACL without XINFO, ...) fails the call.
    local e = groups['err']
    if not (string.find(e, 'no such key', 1, true) or string.sub(e, 1, 9) == 'WRONGTYPE') then return groups end
    n = n + 1
    out[n] = '-'
  else
    local len = redis.call('XLEN', key)
    local first, last = '', ''
    -- The first entry's id split once into ms and seq (decimal strings: ids exceed Lua's 2^53
    -- doubles, so they are compared by length, then lexically).
    local fml, fm, fsl, fs
    if len > 0 then
      first = redis.call('XRANGE', key, '-', '+', 'COUNT', 1)[1][1]
      fm, fs = string.match(first, '^(%d+)-(%d+)$')
      fml, fsl = #fm, #fs
    end
    local head = n + 1
    n = head
    local parts = {}
    local p = 0
    local ng = 0
    for gi = 1, #groups do
      local g = groups[gi]
      -- The fields by name (Redis < 7 has no entries-read and lag).
      local name, consumers, pending, ld, er, lag = nil, 0, 0, '0-0', 'u', 'u'
      for i = 1, #g, 2 do
        local f = g[i]
        if f == 'name' then name = g[i + 1]
        elseif f == 'consumers' then consumers = g[i + 1]
        elseif f == 'pending' then pending = g[i + 1]
        elseif f == 'last-delivered-id' then ld = g[i + 1]
        elseif f == 'entries-read' then er = g[i + 1] or 'n'
        elseif f == 'lag' then lag = g[i + 1] or 'n'
        end
      end
      if wanted == nil or wanted[name] then
        -- position: 1 caught up (nothing after ld), 2 behind (ld before the first entry), 3 middle
        local pos, firstU, count, lastC = 1, '', -1, ''
        if len > 0 then
          local lm, ls = string.match(ld, '^(%d+)-(%d+)$')
          local behind
          if #lm ~= fml then behind = #lm < fml
          elseif lm ~= fm then behind = lm < fm
          elseif #ls ~= fsl then behind = #ls < fsl
          else behind = ls < fs end
          if behind then
            pos = 2
          else
            local c = limit
            if type(lag) == 'number' and lag >= 1 and lag <= len - 1 then c = 1 end
            local ids = redis.call('XRANGE', key, '(' .. ld, '+', 'COUNT', c)
            c = #ids
            if c > 0 then
              pos = 3
              count = c
              firstU = ids[1][1]
              lastC = ids[c][1]
              if c >= limit and last == '' then last = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)[1][1] end
            end
          end
        end
        local sp = ''
        if pending > 0 then
          local pe = redis.call('XPENDING', key, name, '-', '+', 1)
          if #pe > 0 then sp = pe[1][1] end
        end
        if type(er) == 'number' then er = num(er) end
        if type(lag) == 'number' then lag = num(lag) end
        parts[p + 1] = num(consumers)
        parts[p + 2] = num(pending)
        parts[p + 3] = ld
        parts[p + 4] = er
        parts[p + 5] = lag
        parts[p + 6] = pos
        parts[p + 7] = firstU
        parts[p + 8] = count
        parts[p + 9] = lastC
        parts[p + 10] = sp
        p = p + 10
        ng = ng + 1
        n = n + 1
        out[n] = name
      end
    end
    out[head] = num(len) .. ' ' .. first .. ' ' .. last .. ' ' .. ng .. (p > 0 and (' ' .. table.concat(parts, ' ')) or '')
  end
end
return out
