-- Success without retention for several active tasks of one queue: deletes each task and
-- counts them as processed, in one call (the batched form of done.lua); then, when asked,
-- takes up to ARGV[4] pending tasks for the workers that just became free, leasing each one
-- in this same atomic step (decision D12), exactly as dequeue.lua does (take.lua is
-- prepended).
-- KEYS[1] active list
-- KEYS[2] lease zset
-- KEYS[3] daily processed counter `processed:<YYYY-MM-DD>`
-- KEYS[4] total processed counter
-- KEYS[5] pending list
-- KEYS[6] paused flag
-- ARGV[1] expiry of the daily counter, unix seconds (now + 90 days)
-- ARGV[2] largest int64, 9223372036854775807 (the total wraps there)
-- ARGV[3] task key prefix `<ns>:{q}:t:`; task hashes are derived from it (same hash tag)
-- ARGV[4] how many pending tasks to take afterwards (0 for none)
-- ARGV[5] lease duration of taken tasks, whole seconds: their leases run until Redis's TIME
--         plus this (as in dequeue.lua), so every server agrees on them
-- ARGV[6..] pairs: task id, unique lock key or "" (a lock key always carries the queue's
--           hash tag, see keys.rs)
-- KEYS[7] (optional) wake list, given when this call answers a wake-up (a completion that
--         waited for the next task, see server/linger.rs): when it took all it wanted and
--         tasks are still pending, one idle server is woken for them, as the enqueue that
--         pushed the answered marker would have had the pending list been empty
-- Returns {codes, taken}: one code per task (1 done, 0 when the task is not in the active
-- list), and {id1, msg1, id2, msg2, ...} for the tasks taken.
-- The active list is scanned from its tail, where the oldest tasks are (LREM -1).
local codes = {}
local done = 0
-- Client::wait (redisq): waited tasks get their message kept for a minute (the hash goes
-- now) and their waiters told. One EXISTS per call when nobody waits, one ZSCORE per task
-- otherwise. The keys are derived from the task key prefix `<ns>:{q}:t:` (same hash tag).
local qprefix = string.sub(ARGV[3], 1, -3)
local waiters = qprefix .. "redisq:waiters"
local watched = redis.call("EXISTS", waiters) == 1
for i = 6, #ARGV, 2 do
    local id = ARGV[i]
    if redis.call("LREM", KEYS[1], -1, id) == 0 then
        codes[#codes + 1] = 0
    else
        redis.call("ZREM", KEYS[2], id)
        if watched and redis.call("ZSCORE", waiters, id) then
            local key = ARGV[3] .. id
            local msg = redis.call("HGET", key, "msg")
            if msg then
                redis.call("SET", qprefix .. "redisq:finished:" .. id, msg, "PX", 60000)
            end
            redis.call("ZREM", waiters, id)
            local ns = string.sub(key, 1, string.find(key, ":{", 1, true) - 1)
            redis.call("PUBLISH", ns .. ":redisq:finished", key)
        end
        redis.call("DEL", ARGV[3] .. id)
        local lock = ARGV[i + 1]
        if lock ~= "" and redis.call("GET", lock) == id then
            redis.call("DEL", lock)
        end
        done = done + 1
        codes[#codes + 1] = 1
    end
end
if done > 0 then
    if redis.call("INCRBY", KEYS[3], done) == done then
        redis.call("EXPIREAT", KEYS[3], ARGV[1])
    end
    local total = redis.call("GET", KEYS[4])
    if total and tonumber(total) >= tonumber(ARGV[2]) - done then
        -- Wrap like asynq: past the largest int64 the total starts again from the overflow.
        redis.call("SET", KEYS[4], done)
    else
        redis.call("INCRBY", KEYS[4], done)
    end
end
local taken = {}
local want = tonumber(ARGV[4])
-- One paused check for both variants (the plain one must not pay it twice).
if want > 0 and redis.call("EXISTS", KEYS[6]) == 0 then
    if take_limited then
        -- The limit-aware variant (scripts.rs prepends limits.lua and reads the limits spec from
        -- ARGV[6..], before the task pairs): take only what the limits allow now.
        taken = take_limited(LIMITS, KEYS[5], KEYS[1], KEYS[2], ARGV[3], ARGV[5], want)
    else
        taken = take_pending(KEYS[5], KEYS[1], KEYS[2], ARGV[3], ARGV[5], want)
    end
end
if KEYS[7] and want > 0 and #taken == 2 * want and redis.call("LLEN", KEYS[5]) > 0
    and redis.call("LLEN", KEYS[7]) == 0 then
    redis.call("RPUSH", KEYS[7], "1")
end
return {codes, taken}
