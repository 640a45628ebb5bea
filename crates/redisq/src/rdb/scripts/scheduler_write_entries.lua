-- Writes a scheduler's entries (asynq's writeSchedulerEntries).
-- KEYS[1] entries list `<ns>:schedulers:{host:pid:uuid}`
-- ARGV[1] TTL, whole seconds
-- ARGV[2..] encoded SchedulerEntry messages, each LPUSHed in turn
-- Returns OK. Without entries the list stays deleted, as in asynq.
redis.call("DEL", KEYS[1])
for i = 2, #ARGV do
    redis.call("LPUSH", KEYS[1], ARGV[i])
end
redis.call("EXPIRE", KEYS[1], ARGV[1])
return redis.status_reply("OK")
