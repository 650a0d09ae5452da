// The Node side of bench/bench_remote.c: messages between the main thread and a
// worker_threads Worker through their MessagePorts.
//
//   node message_port.js [N [M]]
//
// Prints two lines, the best of three runs each (milliseconds):
//   roundtrip  N round trips: the main thread posts a number, the worker posts it back, and the
//              next one leaves when the echo arrives;
//   oneway     M messages (N by default) posted by the worker as fast as it can, counted by
//              the main thread, from the 'go' message to the last arrival.
'use strict';

const { Worker, isMainThread, parentPort } = require('worker_threads');

if (!isMainThread) {
  parentPort.on('message', (m) => {
    if (typeof m === 'number') {
      parentPort.postMessage(m);
    } else if (m.go) {
      for (let i = 0; i < m.go; i++) parentPort.postMessage(i);
    } else {
      parentPort.close();
    }
  });
  return;
}

const N = Number(process.argv[2]) || 100000;
const M = Number(process.argv[3]) || N;

function roundtrip(worker) {
  return new Promise((done) => {
    let count = 0;
    const start = process.hrtime.bigint();
    worker.on('message', function onMsg(m) {
      if (++count < N) {
        worker.postMessage(m);
        return;
      }
      worker.off('message', onMsg);
      done([Number(process.hrtime.bigint() - start) / 1e6, count]);
    });
    worker.postMessage(42);
  });
}

function oneway(worker) {
  return new Promise((done) => {
    let count = 0;
    const start = process.hrtime.bigint();
    worker.on('message', function onMsg() {
      if (++count < M) return;
      worker.off('message', onMsg);
      done([Number(process.hrtime.bigint() - start) / 1e6, count]);
    });
    worker.postMessage({ go: M });
  });
}

async function best(worker, fn, n) {
  let min = Infinity;
  for (let i = 0; i < 3; i++) {
    const [ms, count] = await fn(worker);
    if (count !== n) throw new Error('wrong count ' + count);
    min = Math.min(min, ms);
  }
  return min;
}

(async () => {
  const worker = new Worker(__filename);
  await new Promise((ready) => worker.once('online', ready));
  const rt = await best(worker, roundtrip, N);
  const ow = await best(worker, oneway, M);
  console.log(`roundtrip ${rt.toFixed(3)}`);
  console.log(`oneway ${ow.toFixed(3)}`);
  worker.postMessage({ stop: true });
})();
