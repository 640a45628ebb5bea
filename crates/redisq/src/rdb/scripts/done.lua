-- Success without retention: deletes an active task and counts it as processed.
-- KEYS[1] active list
-- KEYS[2] lease zset
-- KEYS[3] task hash
-- KEYS[4] daily processed counter `processed:<YYYY-MM-DD>`
-- KEYS[5] total processed counter
-- KEYS[6] unique lock key (optional: only passed when the task has one)
-- ARGV[1] task id
-- ARGV[2] expiry of the daily counter, unix seconds (now + 90 days)
-- ARGV[3] largest int64, 9223372036854775807 (the total wraps to 1 there)
-- Returns 1, or the error "NOT FOUND" when the task is not in the active list.
-- A missing lease entry is not an error (decision D5: recovered tasks may have none).
if redis.call("LREM", KEYS[1], -1, ARGV[1]) == 0 then
    return redis.error_reply("NOT FOUND")
end
redis.call("ZREM", KEYS[2], ARGV[1])
redis.call("DEL", KEYS[3])
if redis.call("INCR", KEYS[4]) == 1 then
    redis.call("EXPIREAT", KEYS[4], ARGV[2])
end
if redis.call("GET", KEYS[5]) == ARGV[3] then
    redis.call("SET", KEYS[5], 1)
else
    redis.call("INCR", KEYS[5])
end
if #KEYS >= 6 and redis.call("GET", KEYS[6]) == ARGV[1] then
    redis.call("DEL", KEYS[6])
end
return 1
