// Node.js side of bench/bench_core.c. Usage: node core.js <timers|immediates|ticks|microtasks> N
// Prints one number: seconds for the benchmark (for timers: the time beyond the longest
// delay, i.e. the overhead of scheduling and firing them).
'use strict';

const [what, nArg] = process.argv.slice(2);
const N = Number(nArg);
const now = () => Number(process.hrtime.bigint()) / 1e9;

// The same xorshift64 sequence as bench_core.c and peers/libuv_core.c.
let rngState = 88172645463325252n;
const MASK = (1n << 64n) - 1n;
function rng() {
  rngState ^= (rngState << 13n) & MASK;
  rngState ^= rngState >> 7n;
  rngState ^= (rngState << 17n) & MASK;
  return rngState;
}

function done(t0, extra) {
  const s = now() - t0 - (extra || 0);
  process.stdout.write(s.toFixed(6) + '\n');
}

if (what === 'timers') {
  const delays = new Array(N);
  for (let i = 0; i < N; i++) delays[i] = Number(rng() % 101n);
  let fired = 0;
  const cb = () => { if (++fired === N) done(t0, 0.1); };
  const t0 = now();
  for (let i = 0; i < N; i++) setTimeout(cb, delays[i]);
} else if (what === 'immediates') {
  let n = 0;
  const t0 = now();
  const step = () => { if (++n < N) setImmediate(step); else done(t0); };
  setImmediate(step);
} else if (what === 'ticks') {
  let n = 0;
  const t0 = now();
  const step = () => { if (++n < N) process.nextTick(step); else done(t0); };
  process.nextTick(step);
} else if (what === 'microtasks') {
  let n = 0;
  const t0 = now();
  const step = () => { if (++n < N) queueMicrotask(step); else done(t0); };
  queueMicrotask(step);
} else {
  console.error('unknown benchmark ' + what);
  process.exit(2);
}
