-- Replaces the message of a scheduled task (Inspector update_task_payload).
-- KEYS[1] task hash
-- ARGV[1] the message the new one was derived from (compare-and-set)
-- ARGV[2] the new encoded TaskMessage
-- Returns 1 when replaced, 0 when the task does not exist, -1 when it is not scheduled,
-- -2 when its message changed since it was read (the caller reads it again).
local fields = redis.call("HMGET", KEYS[1], "msg", "state")
if not fields[1] then
    return 0
end
if fields[2] ~= "scheduled" then
    return -1
end
if fields[1] ~= ARGV[1] then
    return -2
end
redis.call("HSET", KEYS[1], "msg", ARGV[2])
return 1
