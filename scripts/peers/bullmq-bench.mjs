// BullMQ counterpart of `redisq bench`: the same modes, sizes and JSON field names, so that
// scripts/bench-peers.sh can print both side by side. Run against a private Redis only: it
// flushes the database before each run.
//
//   node bullmq-bench.mjs <enqueue|process|e2e> --redis redis://127.0.0.1:PORT
//        [-n N] [--concurrency C] [--payload BYTES] [--batch K] [--rate R]
import { Queue, Worker } from "bullmq";
import IORedis from "ioredis";

function parseArgs(argv) {
  const a = { mode: argv[0], n: 100000, concurrency: 10, payload: 100, batch: null, rate: 1000, redis: "redis://127.0.0.1:6379" };
  for (let i = 1; i < argv.length; i += 2) {
    const [k, v] = [argv[i], argv[i + 1]];
    if (k === "-n") a.n = Number(v);
    else if (k === "--concurrency") a.concurrency = Number(v);
    else if (k === "--payload") a.payload = Number(v);
    else if (k === "--batch") a.batch = Number(v);
    else if (k === "--rate") a.rate = Number(v);
    else if (k === "--redis") a.redis = v;
    else throw new Error(`unknown argument ${k}`);
  }
  if (!["enqueue", "process", "e2e"].includes(a.mode)) throw new Error(`unknown mode ${a.mode}`);
  return a;
}

const args = parseArgs(process.argv.slice(2));
const url = new URL(args.redis);
const connOpts = { host: url.hostname, port: Number(url.port || 6379), maxRetriesPerRequest: null };
const QUEUE = "bench";
// Same job options as a redisq task without retention: nothing kept after success.
const JOB_OPTS = { removeOnComplete: true, removeOnFail: true, attempts: 1 };
const filler = "x".repeat(Math.max(0, args.payload - 20));

async function redisStats(conn) {
  const info = await conn.info("all");
  const field = (name) => Number((info.match(new RegExp(`^${name}:([0-9.]+)`, "m")) || [])[1] || 0);
  return { commands: field("total_commands_processed"), cpu: field("used_cpu_user") + field("used_cpu_sys") };
}
function perTask(before, after, n, extraCommands = 0) {
  return {
    redis_commands_per_task: (after.commands - before.commands - extraCommands) / n,
    redis_cpu_us_per_task: ((after.cpu - before.cpu) * 1e6) / n,
  };
}
const secs = (t0) => Number(process.hrtime.bigint() - t0) / 1e9;

async function fill(n, producers, batch) {
  const queues = Array.from({ length: producers }, () => new Queue(QUEUE, { connection: new IORedis(connOpts) }));
  await Promise.all(queues.map((q) => q.waitUntilReady()));
  const t0 = process.hrtime.bigint();
  await Promise.all(
    queues.map(async (q, p) => {
      const mine = Math.floor(n / producers) + (p < n % producers ? 1 : 0);
      if (batch) {
        for (let done = 0; done < mine; done += batch) {
          const k = Math.min(batch, mine - done);
          await q.addBulk(Array.from({ length: k }, () => ({ name: "bench", data: { f: filler }, opts: JOB_OPTS })));
        }
      } else {
        for (let i = 0; i < mine; i++) await q.add("bench", { f: filler }, JOB_OPTS);
      }
    }),
  );
  const elapsed = secs(t0);
  await Promise.all(queues.map((q) => q.close()));
  return elapsed;
}

function percentile(sorted, p) {
  if (!sorted.length) return 0;
  const rank = Math.round((p / 100) * (sorted.length - 1));
  return sorted[Math.min(rank, sorted.length - 1)];
}

async function main() {
  const admin = new IORedis(connOpts);
  await admin.flushall();
  let report;
  if (args.mode === "enqueue") {
    const before = await redisStats(admin);
    const elapsed = await fill(args.n, args.concurrency, args.batch);
    const after = await redisStats(admin);
    report = { mode: "enqueue", peer: "bullmq", tasks: args.n, producers: args.concurrency, batch: args.batch, seconds: elapsed, tasks_per_second: args.n / elapsed, redis: perTask(before, after, args.n) };
  } else if (args.mode === "process") {
    await fill(args.n, 4, args.batch || 1000);
    let count = 0;
    let resolveDone;
    const done = new Promise((r) => (resolveDone = r));
    const before = await redisStats(admin);
    const t0 = process.hrtime.bigint();
    const worker = new Worker(QUEUE, async () => {}, { connection: new IORedis(connOpts), concurrency: args.concurrency });
    // A job counts once BullMQ has moved it to finished in Redis (the acknowledgement).
    worker.on("completed", () => {
      if (++count === args.n) resolveDone();
    });
    await done;
    const elapsed = secs(t0);
    const after = await redisStats(admin);
    await worker.close();
    report = { mode: "process", peer: "bullmq", tasks: args.n, concurrency: args.concurrency, seconds_to_last_ack: elapsed, tasks_per_second: args.n / elapsed, redis: perTask(before, after, args.n) };
  } else {
    const samples = [];
    let resolveDone;
    const done = new Promise((r) => (resolveDone = r));
    const worker = new Worker(
      QUEUE,
      async (job) => {
        samples.push(Number(process.hrtime.bigint() - BigInt(job.data.t)) / 1e6);
        if (samples.length === args.n) resolveDone();
      },
      { connection: new IORedis(connOpts), concurrency: args.concurrency },
    );
    await worker.waitUntilReady();
    const queue = new Queue(QUEUE, { connection: new IORedis(connOpts) });
    await queue.waitUntilReady();
    // Let the worker reach its idle state first, as redisq's e2e mode does.
    await new Promise((r) => setTimeout(r, 2000));
    const before = await redisStats(admin);
    const period = 1e9 / args.rate;
    const start = process.hrtime.bigint();
    for (let i = 0; i < args.n; i++) {
      const due = start + BigInt(Math.round(period * i));
      const wait = Number(due - process.hrtime.bigint()) / 1e6;
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      await queue.add("bench", { t: process.hrtime.bigint().toString(), f: filler }, JOB_OPTS);
    }
    await done;
    const after = await redisStats(admin);
    await worker.close();
    await queue.close();
    samples.sort((x, y) => x - y);
    report = {
      mode: "e2e", peer: "bullmq", tasks: args.n, rate_per_second: args.rate, concurrency: args.concurrency,
      latency_ms: { p50: percentile(samples, 50), p90: percentile(samples, 90), p99: percentile(samples, 99), max: percentile(samples, 100) },
      redis: perTask(before, after, args.n),
    };
  }
  await admin.quit();
  process.stdout.write(JSON.stringify(report) + "\n");
  process.exit(0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
