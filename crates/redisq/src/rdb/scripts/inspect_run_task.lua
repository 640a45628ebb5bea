-- Moves one task to pending (Inspector run_task).
-- KEYS[1] task hash
-- KEYS[2] pending list
-- KEYS[3] groups set
-- ARGV[1] task id
-- ARGV[2] queue key prefix `<ns>:{q}:` (state zsets are derived from it)
-- ARGV[3] group key prefix `<ns>:{q}:g:`
-- ARGV[4] current time, unix nanoseconds (pending_since, decision D9)
-- Derived keys carry the queue's hash tag, so they live in the slot of KEYS[1..3].
-- Returns 1 when moved, 0 when the task does not exist, -1 when it is active, -2 when it is
-- already pending, -3 when it is not where its state says (being moved by someone else).
-- -4 when it is a flow parent waiting for its children (it runs when they completed; delete
-- the flow to drop it).
-- The unique lock is kept, as in asynq.
local state = redis.call("HGET", KEYS[1], "state")
if not state then
    return 0
end
if state == "active" then
    return -1
end
if state == "pending" then
    return -2
end
if state == "waiting" then
    return -4
end
if state == "aggregating" then
    local group = redis.call("HGET", KEYS[1], "group")
    if not group or redis.call("ZREM", ARGV[3] .. group, ARGV[1]) == 0 then
        return -3
    end
    if redis.call("ZCARD", ARGV[3] .. group) == 0 then
        redis.call("SREM", KEYS[3], group)
    end
elseif state == "scheduled" or state == "retry" or state == "archived" or state == "completed" then
    if redis.call("ZREM", ARGV[2] .. state, ARGV[1]) == 0 then
        return -3
    end
else
    return -3
end
redis.call("LPUSH", KEYS[2], ARGV[1])
redis.call("HSET", KEYS[1], "state", "pending", "pending_since", ARGV[4])
return 1
