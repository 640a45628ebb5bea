-- Stores a handler's result in a task hash, without recreating a deleted task.
-- KEYS[1] task hash
-- ARGV[1] result bytes
-- Returns 1 when written, 0 when the task hash does not exist.
if redis.call("EXISTS", KEYS[1]) == 0 then
    return 0
end
redis.call("HSET", KEYS[1], "result", ARGV[1])
return 1
