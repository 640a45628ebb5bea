-- dequeue.lua for a queue with limits (limits.lua is prepended): takes up to ARGV[3] tasks
-- that the queue's rate and concurrency limits and those of their types allow now, leasing
-- each one in the same atomic step (decision D12).
-- KEYS[1] pending list
-- KEYS[2] paused flag
-- KEYS[3] active list
-- KEYS[4] lease zset
-- ARGV[1] lease duration, whole seconds (as in dequeue.lua: leases run from Redis's TIME)
-- ARGV[2] task key prefix `<ns>:{q}:t:` (task and limit keys are derived from it, so they
--         carry the queue's hash tag)
-- ARGV[3] how many tasks to take at most
-- ARGV[4..] the limits spec (see limits.lua)
-- Returns {{id1, msg1, ...}, wait ms, flags} (see take_limited); nothing when paused.
local spec = read_limits(4)
if redis.call("EXISTS", KEYS[2]) == 1 then
    return {{}, -1, 0}
end
local out, wait, flags = take_limited(spec, KEYS[1], KEYS[3], KEYS[4], ARGV[2], ARGV[1],
    tonumber(ARGV[3]))
return {out, wait, flags}
