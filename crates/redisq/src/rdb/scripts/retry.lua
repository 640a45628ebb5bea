-- Failure with retries left: moves an active task to the retry set.
-- KEYS[1] task hash
-- KEYS[2] active list
-- KEYS[3] lease zset
-- KEYS[4] retry zset
-- KEYS[5] daily processed counter `processed:<YYYY-MM-DD>`
-- KEYS[6] daily failed counter `failed:<YYYY-MM-DD>`
-- KEYS[7] total processed counter
-- KEYS[8] total failed counter
-- ARGV[1] task id
-- ARGV[2] encoded TaskMessage (error_msg, last_failed_at, retried + 1 when a failure)
-- ARGV[3] retry at, unix seconds (score)
-- ARGV[4] expiry of the daily counters, unix seconds (now + 90 days)
-- ARGV[5] "1" when the error counts as a failure, "0" otherwise
-- ARGV[6] largest int64, 9223372036854775807 (the totals wrap to 1 there)
-- ARGV[7] recovery only (empty otherwise): lease cutoff, unix seconds. A task whose lease
--         runs past it is held by a live worker (it was recovered and taken again since the
--         caller looked): it is left alone, "NOT FOUND".
-- Returns 1, or the error "NOT FOUND" when the task is not in the active list.
-- A missing lease entry is not an error (decision D5). The unique lock is kept.
if ARGV[7] ~= nil and ARGV[7] ~= "" then
    local lease = redis.call("ZSCORE", KEYS[3], ARGV[1])
    if lease and tonumber(lease) > tonumber(ARGV[7]) then
        return redis.error_reply("NOT FOUND")
    end
end
if redis.call("LREM", KEYS[2], -1, ARGV[1]) == 0 then
    return redis.error_reply("NOT FOUND")
end
redis.call("ZREM", KEYS[3], ARGV[1])
redis.call("ZADD", KEYS[4], ARGV[3], ARGV[1])
redis.call("HSET", KEYS[1], "msg", ARGV[2], "state", "retry")
if ARGV[5] == "1" then
    if redis.call("INCR", KEYS[5]) == 1 then
        redis.call("EXPIREAT", KEYS[5], ARGV[4])
    end
    if redis.call("INCR", KEYS[6]) == 1 then
        redis.call("EXPIREAT", KEYS[6], ARGV[4])
    end
    -- As in asynq: when the processed total is at the maximum both totals restart at 1.
    if redis.call("GET", KEYS[7]) == ARGV[6] then
        redis.call("SET", KEYS[7], 1)
        redis.call("SET", KEYS[8], 1)
    else
        redis.call("INCR", KEYS[7])
        redis.call("INCR", KEYS[8])
    end
end
return 1
