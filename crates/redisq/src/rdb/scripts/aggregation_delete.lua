-- Deletes an aggregated set: its members' task hashes, the set, and its registration
-- (asynq's deleteAggregationSet), and releases the members' unique locks (decision D4).
-- KEYS[1] aggregation set zset `g:<group>:<set id>`
-- KEYS[2] aggregation_sets zset
-- KEYS[3..n] unique lock keys of members
-- ARGV[1] task key prefix `<ns>:{q}:t:`
-- ARGV[2..n-1] the task ID owning KEYS[i] is ARGV[i - 1]
-- A lock is deleted only while it still holds the ID of a task of this set.
-- Returns the number of task hashes deleted.
local ids = redis.call("ZRANGE", KEYS[1], 0, -1)
local members = {}
local deleted = 0
for _, id in ipairs(ids) do
    members[id] = true
    deleted = deleted + redis.call("DEL", ARGV[1] .. id)
end
redis.call("DEL", KEYS[1])
redis.call("ZREM", KEYS[2], KEYS[1])
for i = 3, #KEYS do
    local owner = ARGV[i - 1]
    if members[owner] and redis.call("GET", KEYS[i]) == owner then
        redis.call("DEL", KEYS[i])
    end
end
return deleted
