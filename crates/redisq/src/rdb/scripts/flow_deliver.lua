-- Delivers one flow event (a child completed or was archived) to its parent, in the parent's
-- slot. Idempotent: an event already delivered, or for a flow that was released, archived or
-- deleted, changes nothing, so a crashed server's outbox can be delivered again safely.
-- KEYS[1] flow hash `<ns>:{pq}:redisq:flow:<parent id>`
-- KEYS[2] parent task hash
-- KEYS[3] waiting zset of the parent's queue
-- KEYS[4] pending list of the parent's queue
-- KEYS[5] archived zset of the parent's queue
-- KEYS[6] flow event outbox of the parent's queue (for the parent's own parent)
-- KEYS[7] wake list of the parent's queue (one idle server is woken when pending was empty)
-- ARGV[1] parent id
-- ARGV[2] child index
-- ARGV[3] outcome: c (completed, result in ARGV[4]), d (completed, no result), a (archived,
--         error in ARGV[4])
-- ARGV[4] result or error
-- ARGV[5] now, unix seconds
-- ARGV[6] now, unix nanoseconds (pending_since)
-- ARGV[7] how long a released or archived parent's flow hash is kept, seconds
-- Returns {code, event}: code 0 nothing changed, 1 recorded, 2 parent released to pending,
-- 3 parent archived; event is the parent's own outcome pushed to KEYS[6] for its parent
-- ("" for none).
local function varint(n)
    local out = {}
    while n >= 128 do
        out[#out + 1] = string.char(n % 128 + 128)
        n = math.floor(n / 128)
    end
    out[#out + 1] = string.char(n)
    return table.concat(out)
end
local state = redis.call("HGET", KEYS[1], "state")
local i = ARGV[2]
if state ~= "waiting" then
    -- An archived parent still records its other children's outcomes, for the case it is run
    -- again from the archive.
    if state == "archived" and redis.call("HGET", KEYS[1], "s:" .. i) == "w" then
        redis.call("HSET", KEYS[1], "s:" .. i, ARGV[3], "r:" .. i, ARGV[4])
    end
    return {0, ""}
end
if redis.call("HGET", KEYS[1], "s:" .. i) ~= "w" then
    return {0, ""}
end
redis.call("HSET", KEYS[1], "s:" .. i, ARGV[3], "r:" .. i, ARGV[4])
local left = redis.call("HINCRBY", KEYS[1], "left", -1)
if ARGV[3] == "a" and redis.call("HGET", KEYS[1], "policy") ~= "run" then
    redis.call("HSET", KEYS[1], "state", "archived")
    redis.call("EXPIRE", KEYS[1], ARGV[7])
    redis.call("ZREM", KEYS[3], ARGV[1])
    local msg = redis.call("HGET", KEYS[2], "msg")
    if not msg then
        return {0, ""}
    end
    local reason = "redisq: flow child " .. redis.call("HGET", KEYS[1], "i:" .. i) ..
        " of queue " .. redis.call("HGET", KEYS[1], "q:" .. i) .. " was archived: " .. ARGV[4]
    -- The message is protobuf: a field appended at the end wins over an earlier one (Go and
    -- prost decode so), which sets error_msg (field 7, bytes) and last_failed_at (field 11,
    -- varint) without decoding the message here.
    msg = msg .. string.char(58) .. varint(#reason) .. reason .. string.char(88) ..
        varint(tonumber(ARGV[5]))
    redis.call("HSET", KEYS[2], "msg", msg, "state", "archived")
    redis.call("ZADD", KEYS[5], ARGV[5], ARGV[1])
    local up = redis.call("HGET", KEYS[1], "up")
    local event = ""
    if up and up ~= "" then
        event = up .. "1:a," .. #reason .. ":" .. reason .. ","
        redis.call("RPUSH", KEYS[6], event)
    end
    return {3, event}
end
if left > 0 then
    return {1, ""}
end
redis.call("HSET", KEYS[1], "state", "released")
-- The parent deletes its flow when it finishes; the expiry only bounds what a parent finished
-- elsewhere (by a Go asynq server) leaves behind.
redis.call("EXPIRE", KEYS[1], ARGV[7])
if redis.call("ZREM", KEYS[3], ARGV[1]) == 0 or redis.call("EXISTS", KEYS[2]) == 0 then
    return {1, ""}
end
redis.call("HSET", KEYS[2], "state", "pending", "pending_since", ARGV[6])
if redis.call("LPUSH", KEYS[4], ARGV[1]) == 1 and redis.call("LLEN", KEYS[7]) == 0 then
    redis.call("RPUSH", KEYS[7], "1")
end
return {2, ""}
