-- Deletes up to ARGV[3] tasks of one container and releases the unique locks they own
-- (Inspector delete_all_*_tasks). Called repeatedly, so one call never blocks Redis for long.
-- KEYS[1] the container: pending list, or scheduled/retry/archived/completed/group zset
-- KEYS[2] groups set (touched only when ARGV[4] names a group)
-- ARGV[1] task key prefix `<ns>:{q}:t:`
-- ARGV[2] queue key prefix `<ns>:{q}:` (a recorded lock must start with it)
-- ARGV[3] maximum number of IDs taken by this call
-- ARGV[4] the group name when KEYS[1] is a group zset, else ""
-- Derived keys carry the queue's hash tag, so they live in the slot of KEYS[1..2].
-- Returns {taken, deleted, size before the call}: taken counts the IDs removed from the
-- container, deleted those whose task hash existed.
-- Locks are found through the hash field unique_key (recorded by redisq also for grouped
-- tasks, decision D4) and released only while they still hold the task's ID.
local kind = redis.call("TYPE", KEYS[1])["ok"]
local batch = tonumber(ARGV[3])
local ids = {}
local size = 0
if kind == "list" then
    size = redis.call("LLEN", KEYS[1])
    ids = redis.call("RPOP", KEYS[1], batch) or {}
elseif kind == "zset" then
    size = redis.call("ZCARD", KEYS[1])
    ids = redis.call("ZRANGE", KEYS[1], 0, batch - 1)
    if #ids > 0 then
        redis.call("ZREMRANGEBYRANK", KEYS[1], 0, #ids - 1)
    end
end
local deleted = 0
for _, id in ipairs(ids) do
    local key = ARGV[1] .. id
    local lock = redis.call("HGET", key, "unique_key")
    if lock and string.sub(lock, 1, #ARGV[2]) == ARGV[2] and redis.call("GET", lock) == id then
        redis.call("DEL", lock)
    end
    deleted = deleted + redis.call("DEL", key)
end
if ARGV[4] ~= "" and redis.call("EXISTS", KEYS[1]) == 0 then
    redis.call("SREM", KEYS[2], ARGV[4])
end
return {#ids, deleted, size}
