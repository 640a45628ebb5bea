-- Limit-aware taking of pending tasks: fleet-wide rate and concurrency limits, checked in
-- the same atomic step that leases the task. scripts.rs prepends this file to
-- dequeue_limited.lua and to the limit-aware variant of done_many.lua; servers call those
-- only for queues that have limits (or held tasks), so unlimited queues pay nothing.
--
-- The limits of a queue come from the servers (which read them from `<ns>:redisq:limits`)
-- as ARGV entries: a count m, then m values: queue rate n, queue rate period (µs), queue
-- concurrency, then for each limited task type: type, rate n, rate period (µs),
-- concurrency. 0 means "no such limit".
--
-- State, all derived from the queue prefix `<ns>:{q}:` (same hash tag, same Cluster slot):
--   redisq:rate:q, redisq:rate:t:<type>        hash {tat}: earliest next start (µs)
--   redisq:ratelog:q, redisq:ratelog:t:<type>  list of the last n start times (µs)
--   redisq:active:t:<type>                     zset of IDs of the type's active tasks
--                                              (checked against the lease zset, so a
--                                              crashed server's slot comes back with its
--                                              lease; stale members are removed lazily)
--   redisq:held                                set of types that have held tasks
--   redisq:held:t:<type>                       list of held task IDs, oldest at the right
-- A task of a limited type that cannot start now is moved from pending to its held list
-- (its hash keeps state "pending"), so it does not block other types behind it; held tasks
-- are older than anything still pending, so they are taken first, FIFO per type.
--
-- Rate limiting: starts are spaced `period / n` apart (a GCRA-like slot `tat` that does not
-- drift when a start comes late: later ones catch up), and never more than n starts fall in any window
-- of `period` (the log of the last n starts, checked with a small margin: see rate_wait).
-- Time is Redis's TIME, shared by the fleet.

-- Reads the limits spec at ARGV[at..] and removes it from ARGV, so the script body that
-- follows sees its own arguments where it expects them.
local function read_limits(at)
    local spec = {}
    local m = tonumber(table.remove(ARGV, at))
    for i = 1, m do
        spec[i] = table.remove(ARGV, at)
    end
    return spec
end

-- The type of an encoded TaskMessage: field 1 (tag 0x0A), a varint length, the bytes. Go
-- and redisq write field 1 first; nil when the message does not start with it.
local function task_type(msg)
    if string.byte(msg, 1) ~= 10 then
        return nil
    end
    local len, mul, i = 0, 1, 2
    while true do
        local b = string.byte(msg, i)
        if not b or mul > 2 ^ 28 then
            return nil
        end
        i = i + 1
        len = len + (b % 128) * mul
        if b < 128 then
            break
        end
        mul = mul * 128
    end
    return string.sub(msg, i, i + len - 1)
end

-- Takes up to `want` tasks, honouring the limits. Returns the flat {id, msg, ...} list, the
-- wait in ms until a rate-limited start is possible (-1: no rate limit held anything back,
-- 0: call again at once), and flags: 1 when the queue itself is held back (its own rate or
-- concurrency limit), 2 when a concurrency limit held something back.
local function take_limited(spec, pending, active, lease, task_prefix, lease_secs, want)
    local t = redis.call("TIME")
    local now_s = tonumber(t[1])
    -- Leases run from Redis's clock too (see dequeue.lua).
    local lease_until = now_s + tonumber(lease_secs)
    local now = now_s * 1000000 + tonumber(t[2])
    local qp = string.sub(task_prefix, 1, #task_prefix - 2)
    local held = qp .. "redisq:held"
    local qn, qper, qconc = tonumber(spec[1]), tonumber(spec[2]), tonumber(spec[3])
    local types = {}
    for i = 4, #spec, 4 do
        types[spec[i]] = {
            n = tonumber(spec[i + 1]),
            per = tonumber(spec[i + 2]),
            conc = tonumber(spec[i + 3]),
        }
    end
    local wait, flags = nil, 0
    local function note_wait(w)
        if not wait or w < wait then
            wait = w
        end
    end
    local function num(x)
        return string.format("%.0f", x)
    end

    -- µs until a start is allowed under this rate limit (<= 0: now).
    -- The window is checked with a small margin (2% of the period, at most 50 ms): a task
    -- starts in its handler a little after this script grants it, by a delay that varies
    -- (network, scheduling), and starts as the application sees them must not exceed n per
    -- period either. It costs one short extra gap per n starts.
    local function rate_wait(key, logkey, n, per)
        local w = tonumber(redis.call("HGET", key, "tat") or "0") - now
        local len = redis.call("LLEN", logkey)
        if len >= n then
            local margin = math.min(math.floor(per / 50), 50000)
            local w2 = tonumber(redis.call("LINDEX", logkey, len - n)) + per + margin - now
            if w2 > w then
                w = w2
            end
        end
        return w
    end
    local function rate_take(key, logkey, n, per)
        local step = math.ceil(per / n)
        local tat = tonumber(redis.call("HGET", key, "tat") or "0")
        -- A start that comes late (a server woke late) keeps the schedule, so the following
        -- ones catch up instead of every delay adding up; after a pause longer than a fifth
        -- of the period the schedule restarts from now. The log above still allows no more
        -- than n starts in any window.
        local nxt = now + step
        if now - tat < math.max(step, per / 5) then
            nxt = tat + step
        end
        redis.call("HSET", key, "tat", num(nxt))
        redis.call("RPUSH", logkey, num(now))
        redis.call("LTRIM", logkey, -n, -1)
        local ttl = math.ceil((per + step) / 1000) + 1000
        redis.call("PEXPIRE", key, ttl)
        redis.call("PEXPIRE", logkey, ttl)
    end

    local qfree = nil
    if qconc > 0 then
        qfree = qconc - redis.call("ZCOUNT", lease, now_s, "+inf")
    end
    local function queue_blocked()
        if qfree and qfree <= 0 then
            flags = bit.bor(flags, 3)
            return true
        end
        if qn > 0 then
            local w = rate_wait(qp .. "redisq:rate:q", qp .. "redisq:ratelog:q", qn, qper)
            if w > 0 then
                flags = bit.bor(flags, 1)
                note_wait(w)
                return true
            end
        end
        return false
    end

    local function type_free(ty, lim)
        if lim.free == nil then
            local key = qp .. "redisq:active:t:" .. ty
            local n = 0
            for _, id in ipairs(redis.call("ZRANGE", key, 0, -1)) do
                local s = redis.call("ZSCORE", lease, id)
                if s and tonumber(s) >= now_s then
                    n = n + 1
                else
                    redis.call("ZREM", key, id)
                end
            end
            lim.free = lim.conc - n
        end
        return lim.free
    end
    local function type_blocked(ty)
        local lim = ty and types[ty]
        if not lim then
            return false
        end
        if lim.conc > 0 and type_free(ty, lim) <= 0 then
            flags = bit.bor(flags, 2)
            return true
        end
        if lim.n > 0 then
            local w = rate_wait(qp .. "redisq:rate:t:" .. ty, qp .. "redisq:ratelog:t:" .. ty,
                lim.n, lim.per)
            if w > 0 then
                note_wait(w)
                return true
            end
        end
        return false
    end

    local out = {}
    local function start(id, msg, ty)
        activate(active, lease, task_prefix .. id, id, lease_until)
        out[#out + 1] = id
        out[#out + 1] = msg
        if qfree then
            qfree = qfree - 1
        end
        if qn > 0 then
            rate_take(qp .. "redisq:rate:q", qp .. "redisq:ratelog:q", qn, qper)
        end
        local lim = ty and types[ty]
        if lim then
            if lim.conc > 0 then
                lim.free = type_free(ty, lim) - 1
                redis.call("ZADD", qp .. "redisq:active:t:" .. ty, lease_until, id)
            end
            if lim.n > 0 then
                rate_take(qp .. "redisq:rate:t:" .. ty, qp .. "redisq:ratelog:t:" .. ty,
                    lim.n, lim.per)
            end
        end
    end

    local dropped = 0
    -- Held tasks first: they are older than anything still pending.
    for _, ty in ipairs(redis.call("SMEMBERS", held)) do
        local hk = qp .. "redisq:held:t:" .. ty
        while #out < 2 * want and dropped < 100 and not queue_blocked()
            and not type_blocked(ty) do
            local id = redis.call("RPOP", hk)
            if not id then
                break
            end
            local msg = redis.call("HGET", task_prefix .. id, "msg")
            if msg then
                start(id, msg, ty)
            else
                dropped = dropped + 1
            end
        end
        if redis.call("EXISTS", hk) == 0 then
            redis.call("SREM", held, ty)
        end
    end
    -- Then pending, moving tasks of types that cannot start now aside (a bounded number per
    -- call, so one call never runs long; the caller is told to call again).
    local moved = 0
    while #out < 2 * want and dropped < 100 and not queue_blocked() do
        if moved >= 1000 then
            note_wait(0)
            break
        end
        local id = redis.call("RPOP", pending)
        if not id then
            break
        end
        local msg = redis.call("HGET", task_prefix .. id, "msg")
        if not msg then
            dropped = dropped + 1
        else
            local ty = task_type(msg)
            if type_blocked(ty) then
                redis.call("LPUSH", qp .. "redisq:held:t:" .. ty, id)
                redis.call("SADD", held, ty)
                moved = moved + 1
            else
                start(id, msg, ty)
            end
        end
    end
    local wait_ms = -1
    if wait then
        wait_ms = math.ceil(wait / 1000)
    end
    return out, wait_ms, flags
end
