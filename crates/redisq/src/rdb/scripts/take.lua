-- Taking pending tasks, shared by dequeue.lua, done_many.lua and limits.lua (scripts.rs
-- prepends this file to theirs).

-- Makes one task active with its lease: asynq's dequeue step (decision D12: a task is never
-- active without a lease).
local function activate(active, lease, key, id, lease_until)
    redis.call("LPUSH", active, id)
    redis.call("HSET", key, "state", "active")
    -- A new attempt starts without the progress of an earlier one (redisq's extension field).
    redis.call("HDEL", key, "pending_since", "redisq_progress")
    redis.call("ZADD", lease, lease_until, id)
end

-- Takes up to `want` of the oldest pending tasks (RPOP + LPUSH: asynq's RPOPLPUSH) and
-- leases each one until Redis's TIME plus `lease_secs`, so every server agrees on the lease
-- whatever its own clock says. TIME is read once, and only when a task is taken. A pending
-- ID whose task hash is gone cannot be processed: it is dropped and the next one is tried
-- (at most 100 such drops per call). Returns {id1, msg1, id2, msg2, ...}.
local function take_pending(pending, active, lease, task_prefix, lease_secs, want)
    local out = {}
    local lease_until = nil
    local dropped = 0
    while #out < 2 * want and dropped < 100 do
        local id = redis.call("RPOP", pending)
        if not id then
            break
        end
        local key = task_prefix .. id
        local msg = redis.call("HGET", key, "msg")
        if msg then
            if not lease_until then
                lease_until = tonumber(redis.call("TIME")[1]) + tonumber(lease_secs)
            end
            activate(active, lease, key, id, lease_until)
            out[#out + 1] = id
            out[#out + 1] = msg
        else
            dropped = dropped + 1
        end
    end
    return out
end
