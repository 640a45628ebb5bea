-- Moves up to ARGV[2] tasks of a zset to pending (Inspector run_all_*_tasks). Called
-- repeatedly, so one call never blocks Redis for long.
-- KEYS[1] the source: scheduled, retry or archived zset, or a group zset
-- KEYS[2] pending list
-- KEYS[3] groups set (touched only when ARGV[4] names a group)
-- ARGV[1] task key prefix `<ns>:{q}:t:` (task hashes carry the queue's hash tag)
-- ARGV[2] maximum number of IDs taken by this call
-- ARGV[3] current time, unix nanoseconds (pending_since, decision D9)
-- ARGV[4] the group name when KEYS[1] is a group zset, else ""
-- Returns {taken, moved, size before the call}. IDs whose task hash is gone are dropped.
-- Tasks are taken in ascending score order and pushed to the left of pending, so the one
-- with the lowest score is processed first. Unique locks are kept, as in asynq.
local size = redis.call("ZCARD", KEYS[1])
local ids = redis.call("ZRANGE", KEYS[1], 0, tonumber(ARGV[2]) - 1)
if #ids > 0 then
    redis.call("ZREMRANGEBYRANK", KEYS[1], 0, #ids - 1)
end
local moved = 0
for _, id in ipairs(ids) do
    local key = ARGV[1] .. id
    if redis.call("EXISTS", key) == 1 then
        redis.call("LPUSH", KEYS[2], id)
        redis.call("HSET", key, "state", "pending", "pending_since", ARGV[3])
        moved = moved + 1
    end
end
if ARGV[4] ~= "" and redis.call("EXISTS", KEYS[1]) == 0 then
    redis.call("SREM", KEYS[3], ARGV[4])
end
return {#ids, moved, size}
