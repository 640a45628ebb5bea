-- Puts an active task back at the front of its pending list (shutdown).
-- KEYS[1] active list
-- KEYS[2] lease zset
-- KEYS[3] pending list
-- KEYS[4] task hash
-- ARGV[1] task id
-- ARGV[2] current time, unix nanoseconds (pending_since; decision D9, asynq leaves it unset)
-- ARGV[3] wake-up channel (decision D10), or "" for none
-- ARGV[4] wake-up message
-- Returns 1, or the error "NOT FOUND" when the task is not in the active list.
if redis.call("LREM", KEYS[1], -1, ARGV[1]) == 0 then
    return redis.error_reply("NOT FOUND")
end
redis.call("ZREM", KEYS[2], ARGV[1])
-- Dequeue pops from the right, so the right end is the front of the line.
if redis.call("RPUSH", KEYS[3], ARGV[1]) == 1 and ARGV[3] ~= "" then
    redis.call("PUBLISH", ARGV[3], ARGV[4])
end
redis.call("HSET", KEYS[4], "state", "pending", "pending_since", ARGV[2])
return 1
