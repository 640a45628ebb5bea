-- Returns aggregation sets whose deadline passed to their groups (asynq's
-- reclaimStaleAggregationSets): the aggregating server died or gave up.
-- KEYS[1] aggregation_sets zset
-- KEYS[2] groups set
-- ARGV[1] current time, unix seconds (sets scored at or before it are stale)
-- ARGV[2] group key prefix `<ns>:{q}:g:`
-- ARGV[3] task key prefix `<ns>:{q}:t:`
-- Group keys (the set key without its last `:<set id>`) and task hashes are derived from
-- registered set keys and ARGV; all carry the queue's hash tag.
-- Members keep their original scores; members whose task hash is gone are dropped. Unlike
-- asynq, a group that gets members back is added to `groups` again, so it is aggregated
-- again (asynq leaves it out until a new task joins the group).
-- Returns the number of sets reclaimed.
-- Entries not under the queue's group prefix (written by something else) are only removed
-- from KEYS[1]: their keys may live in another Cluster slot and are not touched.
local stale = redis.call("ZRANGE", KEYS[1], "-inf", ARGV[1], "BYSCORE")
for _, set_key in ipairs(stale) do
    local idx = string.find(set_key, ":[^:]*$")
    if idx and string.sub(set_key, 1, #ARGV[2]) == ARGV[2] then
        local group_key = string.sub(set_key, 1, idx - 1)
        local res = redis.call("ZRANGE", set_key, 0, -1, "WITHSCORES")
        local returned = 0
        for i = 1, #res - 1, 2 do
            if redis.call("EXISTS", ARGV[3] .. res[i]) == 1 then
                redis.call("ZADD", group_key, res[i + 1], res[i])
                returned = returned + 1
            end
        end
        if returned > 0 and string.sub(group_key, 1, #ARGV[2]) == ARGV[2] then
            redis.call("SADD", KEYS[2], string.sub(group_key, #ARGV[2] + 1))
        end
        redis.call("DEL", set_key)
    end
    redis.call("ZREM", KEYS[1], set_key)
end
return #stale
