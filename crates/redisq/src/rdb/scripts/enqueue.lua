-- Adds a new task to the pending list.
-- KEYS[1] task hash
-- KEYS[2] pending list
-- ARGV[1] encoded TaskMessage
-- ARGV[2] task id
-- ARGV[3] current time, unix nanoseconds (pending_since)
-- ARGV[4] wake-up channel (decision D10), or "" for none
-- ARGV[5] wake-up message: idle redisq servers wake when the list was empty
-- Returns 1 when added, 0 when a task with this ID already exists in the queue.
if redis.call("EXISTS", KEYS[1]) == 1 then
    return 0
end
redis.call("HSET", KEYS[1], "msg", ARGV[1], "state", "pending", "pending_since", ARGV[3])
if redis.call("LPUSH", KEYS[2], ARGV[2]) == 1 and ARGV[4] ~= "" then
    redis.call("PUBLISH", ARGV[4], ARGV[5])
end
return 1
