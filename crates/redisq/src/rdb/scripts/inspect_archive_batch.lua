-- Archives up to ARGV[2] tasks of one container and trims the archive (Inspector
-- archive_all_*_tasks). Called repeatedly, so one call never blocks Redis for long.
-- KEYS[1] the source: pending list, or scheduled/retry/group zset
-- KEYS[2] archived zset
-- KEYS[3] groups set (touched only when ARGV[6] names a group)
-- ARGV[1] task key prefix `<ns>:{q}:t:` (task hashes carry the queue's hash tag)
-- ARGV[2] maximum number of IDs taken by this call
-- ARGV[3] current time, unix seconds (score)
-- ARGV[4] age cutoff, unix seconds (now - max age): older archived tasks are trimmed
-- ARGV[5] maximum number of archived tasks kept
-- ARGV[6] the group name when KEYS[1] is a group zset, else ""
-- Returns {taken, archived, size before the call}. IDs whose task hash is gone are dropped.
-- Decision D2: trimmed tasks' hashes are deleted. Unique locks are kept, as in asynq.
local kind = redis.call("TYPE", KEYS[1])["ok"]
local batch = tonumber(ARGV[2])
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
local archived = 0
for _, id in ipairs(ids) do
    local key = ARGV[1] .. id
    if redis.call("EXISTS", key) == 1 then
        redis.call("ZADD", KEYS[2], ARGV[3], id)
        redis.call("HSET", key, "state", "archived")
        archived = archived + 1
    end
end
if ARGV[6] ~= "" and redis.call("EXISTS", KEYS[1]) == 0 then
    redis.call("SREM", KEYS[3], ARGV[6])
end
local old = redis.call("ZRANGE", KEYS[2], "-inf", ARGV[4], "BYSCORE")
for _, id in ipairs(old) do
    redis.call("DEL", ARGV[1] .. id)
end
if #old > 0 then
    redis.call("ZREMRANGEBYSCORE", KEYS[2], "-inf", ARGV[4])
end
local excess = redis.call("ZCARD", KEYS[2]) - tonumber(ARGV[5])
if excess > 0 then
    for _, id in ipairs(redis.call("ZRANGE", KEYS[2], 0, excess - 1)) do
        redis.call("DEL", ARGV[1] .. id)
    end
    redis.call("ZREMRANGEBYRANK", KEYS[2], 0, excess - 1)
end
return {#ids, archived, size}
