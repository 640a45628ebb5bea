-- Adds a new task to the scheduled set.
-- KEYS[1] task hash
-- KEYS[2] scheduled zset
-- ARGV[1] encoded TaskMessage
-- ARGV[2] process-at, unix seconds (score)
-- ARGV[3] task id
-- ARGV[4] group name, or "" (decision D3: a grouped task keeps its group while scheduled)
-- ARGV[5] wake-up channel (decision D10), or "" for none
-- ARGV[6] wake-up message: forwarders wake when this task is the earliest one
-- Returns 1 when added, 0 on a task ID conflict.
if redis.call("EXISTS", KEYS[1]) == 1 then
    return 0
end
if ARGV[4] ~= "" then
    redis.call("HSET", KEYS[1], "msg", ARGV[1], "state", "scheduled", "group", ARGV[4])
else
    redis.call("HSET", KEYS[1], "msg", ARGV[1], "state", "scheduled")
end
redis.call("ZADD", KEYS[2], ARGV[2], ARGV[3])
if ARGV[5] ~= "" and redis.call("ZRANGE", KEYS[2], 0, 0)[1] == ARGV[3] then
    redis.call("PUBLISH", ARGV[5], ARGV[6])
end
return 1
