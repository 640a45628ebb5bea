-- Records one enqueue of a scheduler entry (asynq's recordSchedulerEnqueueEvent).
-- KEYS[1] history ZSET `<ns>:scheduler_history:<entry id>`
-- ARGV[1] enqueue time, unix seconds (the score)
-- ARGV[2] encoded SchedulerEnqueueEvent
-- ARGV[3] how many events to keep (1000): the oldest beyond the newest ARGV[3]-1 go first
-- Returns OK.
redis.call("ZREMRANGEBYRANK", KEYS[1], 0, -ARGV[3])
redis.call("ZADD", KEYS[1], ARGV[1], ARGV[2])
return redis.status_reply("OK")
