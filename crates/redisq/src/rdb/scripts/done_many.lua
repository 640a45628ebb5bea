-- Success without retention for several active tasks of one queue: deletes each task and
-- counts them as processed, in one call (the batched form of done.lua).
-- KEYS[1] active list
-- KEYS[2] lease zset
-- KEYS[3] daily processed counter `processed:<YYYY-MM-DD>`
-- KEYS[4] total processed counter
-- ARGV[1] expiry of the daily counter, unix seconds (now + 90 days)
-- ARGV[2] largest int64, 9223372036854775807 (the total wraps to 1 there)
-- ARGV[3] task key prefix `<ns>:{q}:t:`; task hashes are derived from it (same hash tag)
-- ARGV[4..] pairs: task id, unique lock key or "" (a lock key always carries the queue's
--           hash tag, see keys.rs)
-- Returns one entry per task: 1 done, 0 when the task is not in the active list.
-- The active list is scanned from its tail, where the oldest tasks are (LREM -1).
local out = {}
local done = 0
for i = 4, #ARGV, 2 do
    local id = ARGV[i]
    if redis.call("LREM", KEYS[1], -1, id) == 0 then
        out[#out + 1] = 0
    else
        redis.call("ZREM", KEYS[2], id)
        redis.call("DEL", ARGV[3] .. id)
        local lock = ARGV[i + 1]
        if lock ~= "" and redis.call("GET", lock) == id then
            redis.call("DEL", lock)
        end
        done = done + 1
        out[#out + 1] = 1
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
return out
