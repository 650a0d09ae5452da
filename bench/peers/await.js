// The Node side of bench/bench_await.c: awaits per second in one async function.
//
//   node await.js [N]
//
// Prints `settled MS`, `fresh MS`, `null MS` and `pair MS`, the best of three runs each
// (milliseconds for N awaits):
//   settled  N awaits of one already-fulfilled promise in one async function;
//   fresh    N awaits of a new Promise.resolve(i) each;
//   null     N `await null`;
//   pair     two async functions awaiting one fulfilled promise N/2 times each, in lock-step.
'use strict';

const N = Number(process.argv[2]) || 1000000;

async function settled() {
  const p = Promise.resolve(1);
  const start = process.hrtime.bigint();
  let sum = 0;
  for (let i = 0; i < N; i++) sum += await p;
  return [Number(process.hrtime.bigint() - start) / 1e6, sum];
}

async function fresh() {
  const start = process.hrtime.bigint();
  let sum = 0;
  for (let i = 0; i < N; i++) sum += (await Promise.resolve(1));
  return [Number(process.hrtime.bigint() - start) / 1e6, sum];
}

async function nul() {
  const start = process.hrtime.bigint();
  let sum = 0;
  for (let i = 0; i < N; i++) {
    await null;
    sum++;
  }
  return [Number(process.hrtime.bigint() - start) / 1e6, sum];
}

async function pair() {
  const p = Promise.resolve(1);
  let sum = 0;
  const worker = async () => {
    for (let i = 0; i < N / 2; i++) {
      const v = await p; // (sum += await p would read sum before the await)
      sum += v;
    }
  };
  const start = process.hrtime.bigint();
  await Promise.all([worker(), worker()]);
  return [Number(process.hrtime.bigint() - start) / 1e6, sum];
}

async function best(fn) {
  let min = Infinity;
  for (let i = 0; i < 3; i++) {
    const [ms, count] = await fn();
    if (count !== N) throw new Error('wrong count ' + count);
    min = Math.min(min, ms);
  }
  return min;
}

(async () => {
  process.stdout.write(`settled ${(await best(settled)).toFixed(3)}\n`);
  process.stdout.write(`fresh ${(await best(fresh)).toFixed(3)}\n`);
  process.stdout.write(`null ${(await best(nul)).toFixed(3)}\n`);
  process.stdout.write(`pair ${(await best(pair)).toFixed(3)}\n`);
})();
