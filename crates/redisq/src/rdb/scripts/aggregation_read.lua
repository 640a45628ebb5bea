-- Reads an aggregation set (asynq's readAggregationSet plus the ZSCORE that follows it).
-- KEYS[1] aggregation set zset `g:<group>:<set id>`
-- KEYS[2] aggregation_sets zset
-- ARGV[1] task key prefix `<ns>:{q}:t:`
-- Task hashes are derived from ARGV[1], which carries the queue's hash tag.
-- Returns {deadline, id1, msg1, id2, msg2, ...} in set order (oldest first); deadline is
-- the set's score in KEYS[2], or false when the set is not registered (it was reclaimed or
-- deleted). Members whose task hash is gone are left out.
local out = {redis.call("ZSCORE", KEYS[2], KEYS[1])}
local ids = redis.call("ZRANGE", KEYS[1], 0, -1)
for _, id in ipairs(ids) do
    local msg = redis.call("HGET", ARGV[1] .. id, "msg")
    if msg then
        table.insert(out, id)
        table.insert(out, msg)
    end
end
return out
