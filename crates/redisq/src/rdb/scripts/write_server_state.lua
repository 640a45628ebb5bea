-- Writes a server's info and its active workers, both expiring after a TTL.
-- KEYS[1] server info key `<ns>:servers:{host:pid:sid}`
-- KEYS[2] workers hash `<ns>:workers:{host:pid:sid}` (same hash tag as KEYS[1])
-- ARGV[1] TTL, whole seconds
-- ARGV[2] encoded ServerInfo
-- ARGV[3..] pairs of task id and encoded WorkerInfo
-- Returns 1. Without workers the hash is left deleted, as asynq does.
redis.call("SET", KEYS[1], ARGV[2], "EX", ARGV[1])
redis.call("DEL", KEYS[2])
for i = 3, #ARGV, 2 do
    redis.call("HSET", KEYS[2], ARGV[i], ARGV[i + 1])
end
redis.call("EXPIRE", KEYS[2], ARGV[1])
return 1
