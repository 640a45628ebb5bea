-- Takes up to ARGV[3] of the oldest pending tasks of a queue and leases each one, in one
-- atomic step (decision D12: a task is never active without a lease).
-- KEYS[1] pending list
-- KEYS[2] paused flag
-- KEYS[3] active list
-- KEYS[4] lease zset
-- ARGV[1] lease duration, whole seconds: each lease runs until Redis's TIME plus this (the
--         score, unix seconds), so every server agrees on it whatever its own clock says
-- ARGV[2] task key prefix `<ns>:{q}:t:`; task hashes are derived from it, so they carry
--         the queue's hash tag and live in the slot of KEYS[1..4]
-- ARGV[3] how many tasks to take at most
-- Returns {id1, msg1, id2, msg2, ...}; empty when the queue is paused or empty.
-- A pending ID whose task hash is gone cannot be processed: it is dropped and the next one
-- is tried (at most 100 such drops per call).
local out = {}
if redis.call("EXISTS", KEYS[2]) == 1 then
    return out
end
local want = tonumber(ARGV[3])
-- Read once, and only when a task is taken (an empty queue costs no TIME).
local lease_until = nil
local dropped = 0
while #out < 2 * want and dropped < 100 do
    -- RPOP + LPUSH: asynq's RPOPLPUSH, skipping IDs without a task.
    local id = redis.call("RPOP", KEYS[1])
    if not id then
        break
    end
    local key = ARGV[2] .. id
    local msg = redis.call("HGET", key, "msg")
    if msg then
        redis.call("LPUSH", KEYS[3], id)
        redis.call("HSET", key, "state", "active")
        -- A new attempt starts without the progress of an earlier one (same HDEL).
        redis.call("HDEL", key, "pending_since", "redisq_progress")
        if not lease_until then
            lease_until = tonumber(redis.call("TIME")[1]) + tonumber(ARGV[1])
        end
        redis.call("ZADD", KEYS[4], lease_until, id)
        out[#out + 1] = id
        out[#out + 1] = msg
    else
        dropped = dropped + 1
    end
end
return out
