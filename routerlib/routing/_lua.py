"""The Lua scripts of ``RedisHealth``: the rules of ``breaker.py`` and ``health.py`` run atomically
inside Redis, one script per decision.

Per deployment (``P`` is the prefix, ``id`` the deployment id)::

    P h:<id>   hash   breaker (ou: open until, openings, consec, succ, cause; ws/wo/wf<slot>: the
                      failure-rate window in 10 buckets) and averages (lat, ttft, out, their stamps)
    P f:<id>   zset   calls in flight: lease id scored by its expiry
    P t:<id>   zset   half-open trial calls in flight, the same way
    P u:<id>   hash   usage: head second, running sums r and t, r<slot>/t<slot> for 61 seconds

Times are Redis's own clock (``TIME``, milliseconds), so hosts need no synchronised clocks;
the scripts return times relative to it. Leases expire: the in-flight calls and trial slots
of a process that died are released at their lease's end, and every key expires when its
deployment sees no traffic (usage after 62 s, leases at the last lease's end, breaker state
after ``state_ttl``).
"""

from __future__ import annotations

COMMON = r"""
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function num(v, d)
  v = tonumber(v)
  if v == nil then return d end
  return v
end

-- usage: 61 one-second buckets with running sums (health.UsageWindow)
local function advance(U, sec)
  local head = num(redis.call('HGET', U, 'head'), -1)
  if sec <= head then return end
  if head < 0 or sec - head >= 61 then
    redis.call('DEL', U)
    redis.call('HSET', U, 'head', sec, 'r', 0, 't', 0)
    return
  end
  for k = head + 1, sec do
    local slot = k % 61
    local r = num(redis.call('HGET', U, 'r' .. slot), 0)
    local t = num(redis.call('HGET', U, 't' .. slot), 0)
    if r ~= 0 or t ~= 0 then
      redis.call('HINCRBY', U, 'r', -r)
      redis.call('HINCRBY', U, 't', -t)
      redis.call('HDEL', U, 'r' .. slot, 't' .. slot)
    end
  end
  redis.call('HSET', U, 'head', sec)
end

local function adjust(U, sec, dr, dt)
  local head = num(redis.call('HGET', U, 'head'), -1)
  if head < 0 or sec <= head - 61 then return end
  local slot = sec % 61
  if dr ~= 0 then
    redis.call('HINCRBY', U, 'r' .. slot, dr)
    redis.call('HINCRBY', U, 'r', dr)
  end
  if dt ~= 0 then
    redis.call('HINCRBY', U, 't' .. slot, dt)
    redis.call('HINCRBY', U, 't', dt)
  end
end

-- the breaker's failure-rate window: 10 buckets of width ms (breaker.Breaker)
local function count(H, now, width, failed)
  local idx = math.floor(now / width)
  local slot = idx % 10
  if num(redis.call('HGET', H, 'ws' .. slot), -1) ~= idx then
    redis.call('HSET', H, 'ws' .. slot, idx, 'wo' .. slot, 0, 'wf' .. slot, 0)
  end
  if failed then
    redis.call('HINCRBY', H, 'wf' .. slot, 1)
  else
    redis.call('HINCRBY', H, 'wo' .. slot, 1)
  end
end

local function window(H, now, width)
  local oldest = math.floor(now / width) - 10
  local calls, fails = 0, 0
  for slot = 0, 9 do
    if num(redis.call('HGET', H, 'ws' .. slot), -1) > oldest then
      local f = num(redis.call('HGET', H, 'wf' .. slot), 0)
      calls = calls + num(redis.call('HGET', H, 'wo' .. slot), 0) + f
      fails = fails + f
    end
  end
  return calls, fails
end

local function open_time(openings, cool, cap)
  if openings >= 30 then return cap end
  return math.min(cool * 2 ^ openings, cap)
end

-- open for ms from now; never shortens an opening in force (breaker.Breaker._open)
local function open(H, T, now, ms, cause, grow)
  local untl = now + ms
  if untl <= num(redis.call('HGET', H, 'ou'), 0) then return 0 end
  redis.call('HSET', H, 'ou', untl, 'cause', cause, 'consec', 0, 'succ', 0)
  if grow then redis.call('HINCRBY', H, 'openings', 1) end
  for slot = 0, 9 do redis.call('HDEL', H, 'ws' .. slot) end
  redis.call('DEL', T)
  return 1
end

local function fmt(x)
  return string.format('%.1f', x)
end

-- one snapshot row: reopens in (ms), in flight, requests, tokens, lat, lat age, ttft, ttft age, out
local function row(H, F, U, now, sec)
  local ou = num(redis.call('HGET', H, 'ou'), 0)
  redis.call('ZREMRANGEBYSCORE', F, '-inf', now)
  advance(U, sec)
  local usage = redis.call('HMGET', U, 'r', 't')
  local a = redis.call('HMGET', H, 'lat', 'lat_t', 'ttft', 'ttft_t', 'out')
  local lat_age, ttft_age = '', ''
  if a[2] then lat_age = now - num(a[2], now) end
  if a[4] then ttft_age = now - num(a[4], now) end
  return {math.max(ou - now, 0), redis.call('ZCARD', F), num(usage[1], 0), num(usage[2], 0),
          a[1] or '', lat_age, a[3] or '', ttft_age, a[5] or ''}
end
"""

#: KEYS: H F T U per candidate (k of them), then H F U per snapshot member (n).
#: ARGV: k, n, force, lease id, lease ms, half-open trials, then maxp rpm tpm need per candidate.
#: Returns {chosen (0: none), trial, second, {reasons of the refused}, {snapshot rows...}}.
CHOOSE = COMMON + r"""
local k, n = tonumber(ARGV[1]), tonumber(ARGV[2])
local force, lease, lease_ms, trials = ARGV[3] == '1', ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
local now = now_ms()
local sec = math.floor(now / 1000)
local reasons = {}
local chosen, trial = 0, 0
for i = 1, k do
  local H, F, T, U = KEYS[4 * i - 3], KEYS[4 * i - 2], KEYS[4 * i - 1], KEYS[4 * i]
  local base = 6 + 4 * (i - 1)
  local maxp, rpm, tpm, need = tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3]),
    tonumber(ARGV[base + 4])
  local reason = nil
  local is_trial = force
  local ou = num(redis.call('HGET', H, 'ou'), 0)
  if force then
    -- the all-open trial: still at most `trials` trial calls at once
    redis.call('ZREMRANGEBYSCORE', T, '-inf', now)
    local busy = redis.call('ZCARD', T)
    if busy >= trials then reason = 'open, ' .. busy .. ' trial call(s) in flight' end
  elseif ou > 0 then
    if now < ou then
      reason = 'open for ' .. fmt((ou - now) / 1000) .. ' s more (' .. (redis.call('HGET', H, 'cause') or '') .. ')'
    else
      redis.call('ZREMRANGEBYSCORE', T, '-inf', now)
      local busy = redis.call('ZCARD', T)
      if busy >= trials then
        reason = 'half-open, ' .. busy .. ' trial call(s) in flight'
      else
        is_trial = true
      end
    end
  end
  if not reason and maxp > 0 then
    redis.call('ZREMRANGEBYSCORE', F, '-inf', now)
    if redis.call('ZCARD', F) >= maxp then reason = 'max_parallel_requests ' .. maxp .. ' reached' end
  end
  if not reason and (rpm > 0 or tpm > 0) then
    advance(U, sec)
    local used = redis.call('HMGET', U, 'r', 't')
    local r, t = num(used[1], 0), num(used[2], 0)
    if rpm > 0 and r + 1 > rpm then
      reason = 'rpm limit ' .. rpm .. ' reached (' .. r .. ' requests in the last 60 s)'
    elseif tpm > 0 and t + need > tpm then
      reason = 'tpm limit ' .. tpm .. ': ' .. t .. ' used + ' .. need .. ' for this request'
    end
  end
  if reason then
    reasons[#reasons + 1] = reason
  else
    redis.call('ZADD', F, now + lease_ms, lease)
    redis.call('PEXPIRE', F, lease_ms)
    if is_trial then
      redis.call('ZADD', T, now + lease_ms, lease)
      redis.call('PEXPIRE', T, lease_ms)
      trial = 1
    end
    advance(U, sec)
    adjust(U, sec, 1, need)
    redis.call('PEXPIRE', U, 62000)
    chosen = i
    break
  end
end
local rows = {}
for j = 1, n do
  local o = 4 * k + 3 * (j - 1)
  rows[j] = row(KEYS[o + 1], KEYS[o + 2], KEYS[o + 3], now, sec)
end
return {chosen, trial, sec, reasons, rows}
"""

#: KEYS: H F T U. ARGV: lease, trial, verdict, retry_after ms (-1), detail, second, token delta,
#: latency sample (s, -1), completion tokens (-1), ttft (s, -1), then the breaker config:
#: allowed_fails, failure_rate, min_calls, window ms, cooldown ms, max cooldown ms, reset_after,
#: state ttl ms. Returns 1 if this outcome opened the breaker.
REPORT = COMMON + r"""
local H, F, T, U = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local lease, trial, verdict = ARGV[1], ARGV[2] == '1', ARGV[3]
local retry_after, detail, sec, dtok = tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7])
local lat, completion, ttft = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local allowed, rate, min_calls = tonumber(ARGV[11]), tonumber(ARGV[12]), tonumber(ARGV[13])
local window_ms, cool, cap = tonumber(ARGV[14]), tonumber(ARGV[15]), tonumber(ARGV[16])
local reset_after, ttl = tonumber(ARGV[17]), tonumber(ARGV[18])
local width = window_ms / 10
local now = now_ms()
redis.call('ZREM', F, lease)
if trial then redis.call('ZREM', T, lease) end
if dtok ~= 0 then adjust(U, sec, 0, dtok) end
local ou = num(redis.call('HGET', H, 'ou'), 0)
local openings = num(redis.call('HGET', H, 'openings'), 0)
local opened = 0
local function peak(field, stamp, sample)
  local v = tonumber(redis.call('HGET', H, field))
  if v == nil or sample > v then
    v = sample
  else
    local w = math.exp(-math.max(now - num(redis.call('HGET', H, stamp), now), 0) / 10000)
    v = v * w + sample * (1 - w)
  end
  redis.call('HSET', H, field, string.format('%.9g', v), stamp, now)
end
if verdict == 'ok' then
  count(H, now, width, false)
  redis.call('HSET', H, 'consec', 0)
  local succ = redis.call('HINCRBY', H, 'succ', 1)
  if ou > 0 and (trial or now >= ou) then
    redis.call('HSET', H, 'ou', 0, 'succ', 1)
    succ = 1
  end
  if succ >= reset_after then redis.call('HSET', H, 'openings', 0) end
  if lat >= 0 then peak('lat', 'lat_t', lat) end
  if ttft >= 0 then peak('ttft', 'ttft_t', ttft) end
  if completion > 0 then
    local out = tonumber(redis.call('HGET', H, 'out'))
    if out == nil then out = completion else out = out + 0.1 * (completion - out) end
    redis.call('HSET', H, 'out', string.format('%.9g', out))
  end
elseif verdict == 'rate_limited' then
  local wait = cool
  if retry_after >= 0 then wait = retry_after end
  local cause = detail
  if cause == '' then cause = '429' end
  if retry_after >= 0 then cause = cause .. string.format(', Retry-After %g s', retry_after / 1000) end
  opened = open(H, T, now, math.min(wait, cap), cause, false)
elseif verdict == 'fatal' then
  opened = open(H, T, now, open_time(openings, cool, cap), detail, true)
elseif verdict == 'failure' then
  -- a failed attempt answered nothing: the averages jump to 10x (health.FAILURE_PENALTY)
  for _, f in ipairs({'lat', 'ttft'}) do
    local v = tonumber(redis.call('HGET', H, f))
    if v ~= nil then peak(f, f .. '_t', v * 10) end
  end
  count(H, now, width, true)
  local consec = redis.call('HINCRBY', H, 'consec', 1)
  redis.call('HSET', H, 'succ', 0)
  if ou > 0 then
    if trial or now >= ou then
      opened = open(H, T, now, open_time(openings, cool, cap), 'trial failed: ' .. detail, true)
    end
  elseif consec > allowed then
    opened = open(H, T, now, open_time(openings, cool, cap),
      consec .. ' failures in a row (last: ' .. detail .. ')', true)
  else
    local calls, fails = window(H, now, width)
    if calls >= min_calls and fails >= rate * calls then
      opened = open(H, T, now, open_time(openings, cool, cap), fails .. ' of ' .. calls .. ' calls failed in ' ..
        string.format('%g', window_ms / 1000) .. ' s (last: ' .. detail .. ')', true)
    end
  end
end
redis.call('PEXPIRE', H, ttl)
return opened
"""

#: KEYS: F T U. ARGV: lease, second, tokens reserved. Gives back a pick that was never sent.
RELEASE = COMMON + r"""
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
adjust(KEYS[3], tonumber(ARGV[2]), -1, -tonumber(ARGV[3]))
return 1
"""

#: KEYS: H T. ARGV: ms, cause, openings. An opening learned while Redis was away, shared once it is back.
OPEN = COMMON + r"""
local now = now_ms()
local opened = open(KEYS[1], KEYS[2], now, tonumber(ARGV[1]), ARGV[2], false)
if opened == 1 and tonumber(ARGV[3]) > num(redis.call('HGET', KEYS[1], 'openings'), 0) then
  redis.call('HSET', KEYS[1], 'openings', ARGV[3])
end
return opened
"""

#: KEYS: H F U per member. ARGV: window ms. Returns per member: the snapshot row, then state fields.
HEALTH = COMMON + r"""
local now = now_ms()
local sec = math.floor(now / 1000)
local width = tonumber(ARGV[1]) / 10
local out = {}
for j = 1, #KEYS / 3 do
  local H, F, U = KEYS[3 * j - 2], KEYS[3 * j - 1], KEYS[3 * j]
  local r = row(H, F, U, now, sec)
  local calls, fails = window(H, now, width)
  local s = redis.call('HMGET', H, 'ou', 'consec', 'openings', 'cause')
  r[#r + 1] = num(s[1], 0) - now
  r[#r + 1] = num(s[1], 0)
  r[#r + 1] = num(s[2], 0)
  r[#r + 1] = num(s[3], 0)
  r[#r + 1] = s[4] or ''
  r[#r + 1] = calls
  r[#r + 1] = fails
  out[j] = r
end
return out
"""
