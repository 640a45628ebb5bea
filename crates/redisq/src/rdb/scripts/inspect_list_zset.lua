-- One page of a scheduled, retry, archived, completed or group zset (Inspector list_*_tasks).
-- KEYS[1] the zset
-- ARGV[1] rank start
-- ARGV[2] rank stop
-- ARGV[3] task key prefix `<ns>:{q}:t:` (task hashes carry the queue's hash tag)
-- Returns {id, msg, score, result, ...} in ascending score order; msg is nil when the task
-- hash is gone, result is nil when absent.
local out = {}
local entries = redis.call("ZRANGE", KEYS[1], ARGV[1], ARGV[2], "WITHSCORES")
for i = 1, #entries, 2 do
    local id = entries[i]
    local fields = redis.call("HMGET", ARGV[3] .. id, "msg", "result")
    out[#out + 1] = id
    out[#out + 1] = fields[1] or false
    out[#out + 1] = entries[i + 1]
    out[#out + 1] = fields[2] or false
end
return out
