-- Removes "ghost" entries: IDs in the active list or lease set whose task hash is gone
-- (evicted, deleted by hand, or left behind by another tool). They can never be processed
-- or recovered, and would otherwise count as active forever.
-- KEYS[1] active list
-- KEYS[2] lease zset
-- ARGV[1] task key prefix `<ns>:{q}:t:`; task hashes are derived from it and carry the
--         queue's hash tag, so they live in the slot of KEYS[1..2]
-- ARGV[2] cutoff, unix seconds: lease entries with a score <= it are checked
-- ARGV[3..] more IDs to check (active tasks seen without a lease)
-- Returns the number of IDs removed.
local removed = 0
local function check(id)
    if redis.call("EXISTS", ARGV[1] .. id) == 0 then
        local n = redis.call("LREM", KEYS[1], 0, id) + redis.call("ZREM", KEYS[2], id)
        if n > 0 then
            removed = removed + 1
        end
    end
end
for _, id in ipairs(redis.call("ZRANGE", KEYS[2], "-inf", ARGV[2], "BYSCORE")) do
    check(id)
end
for i = 3, #ARGV do
    check(ARGV[i])
end
return removed
