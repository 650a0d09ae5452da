// The Node side of bench/bench_promise.c: promise reactions per second.
//
//   node promise_chain.js [N]
//
// Prints two lines, `chain MS` and `dynamic MS`, the best of three runs each (milliseconds):
//   chain    N then() reactions chained on a fulfilled promise, the chain built first, then run
//            (p = p.then(handler) N times; the time includes building and running it);
//   dynamic  N reactions where each handler attaches the next one to a fresh
//            Promise.resolve() (a loop of microtask steps, one promise and one reaction each).
'use strict';

const N = Number(process.argv[2]) || 1000000;

function chain() {
  return new Promise((done) => {
    let count = 0;
    const start = process.hrtime.bigint();
    let p = Promise.resolve();
    for (let i = 0; i < N; i++) {
      p = p.then(() => { count++; });
    }
    p.then(() => done([Number(process.hrtime.bigint() - start) / 1e6, count]));
  });
}

function dynamic() {
  return new Promise((done) => {
    let count = 0;
    const start = process.hrtime.bigint();
    const step = () => {
      if (++count < N) {
        Promise.resolve().then(step);
      } else {
        done([Number(process.hrtime.bigint() - start) / 1e6, count]);
      }
    };
    Promise.resolve().then(step);
  });
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
  process.stdout.write(`chain ${(await best(chain)).toFixed(3)}\n`);
  process.stdout.write(`dynamic ${(await best(dynamic)).toFixed(3)}\n`);
})();
