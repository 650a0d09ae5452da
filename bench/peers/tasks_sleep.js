// The Node side of bench/bench_await.c: many concurrent async functions, each sleeping.
//
//   node --expose-gc tasks_sleep.js [N]
//
// Starts N async functions, function i awaiting setTimeout(10 + i % 41) from timers/promises,
// and prints two lines:
//   bytes B   resident memory gained per pending async function, measured (after a full GC)
//             once all N are suspended;
//   wall MS   milliseconds from the first start to the last one finishing;
//   peak B    the process's peak resident memory (maxRSS), printed at the end.
'use strict';

const { setTimeout: sleep } = require('timers/promises');

const N = Number(process.argv[2]) || 100000;
const gc = global.gc || (() => {});

let done = 0;
let start = 0n;

async function task(i) {
  await sleep(10 + (i % 41));
  if (++done === N) {
    process.stdout.write(`wall ${(Number(process.hrtime.bigint() - start) / 1e6).toFixed(3)}\n`);
    process.stdout.write(`peak ${process.resourceUsage().maxRSS * 1024}\n`);
  }
}

gc();
const before = process.memoryUsage().rss;
start = process.hrtime.bigint();
for (let i = 0; i < N; i++) task(i);
gc();
const after = process.memoryUsage().rss;
process.stdout.write(`bytes ${((after - before) / N).toFixed(1)}\n`);
