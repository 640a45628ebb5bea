-- Writes a flow parent that waits for its children (Client::enqueue_flow). The parent's task
-- hash gets state "waiting" and its ID goes to a redisq-only zset, never to a list or zset
-- Go asynq reads, so no server (Go or redisq) can run it before its children completed.
-- KEYS[1] task hash
-- KEYS[2] waiting zset `<ns>:{q}:redisq:waiting`
-- KEYS[3] flow hash `<ns>:{q}:redisq:flow:<id>`
-- ARGV[1] encoded TaskMessage
-- ARGV[2] task id
-- ARGV[3] now, unix seconds (score)
-- ARGV[4] policy when a child is archived: "archive" or "run"
-- ARGV[5] event prefix of the parent this member reports to itself, "" for none
-- ARGV[6..] pairs: child queue, child id (child index = pair number, from 0)
-- Returns 1 when written, 0 when a task with this ID already exists in the queue.
-- Flow hash fields: state (waiting|released|archived), policy, children, left (children not
-- finished), up; per child i: q:i, i:i, s:i (w waiting, c completed with a result, d
-- completed without one, a archived) and r:i (result or error).
if redis.call("EXISTS", KEYS[1]) == 1 then
    return 0
end
redis.call("DEL", KEYS[3])
redis.call("HSET", KEYS[1], "msg", ARGV[1], "state", "waiting")
redis.call("ZADD", KEYS[2], ARGV[3], ARGV[2])
local n = 0
for i = 6, #ARGV, 2 do
    redis.call("HSET", KEYS[3], "q:" .. n, ARGV[i], "i:" .. n, ARGV[i + 1], "s:" .. n, "w")
    n = n + 1
end
redis.call("HSET", KEYS[3], "state", "waiting", "policy", ARGV[4], "children", n, "left", n,
    "up", ARGV[5])
return 1
