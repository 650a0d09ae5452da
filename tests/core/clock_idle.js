// The Node side of test_clock_idle_then_timeout_like_node (tests/core/test_clock.c): the loop
// blocks on a pipe with nothing else pending for IDLE_MS, then data arrives and its callback
// sets a TIMEOUT_MS timeout. Prints "idle_ms delay_ms": how long the loop sat idle and how
// long after the callback the timeout fired, both measured with the monotonic clock.
'use strict';
const { spawn } = require('child_process');

const idleMs = Number(process.argv[2] || 1500);
const timeoutMs = Number(process.argv[3] || 300);
const start = process.hrtime.bigint();
const child = spawn('sh', ['-c', `sleep ${idleMs / 1000}; printf x`], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
child.stdout.once('data', () => {
  const t0 = process.hrtime.bigint();
  setTimeout(() => {
    const t1 = process.hrtime.bigint();
    const idle = Number(t0 - start) / 1e6;
    const delay = Number(t1 - t0) / 1e6;
    console.log(`${idle.toFixed(1)} ${delay.toFixed(1)}`);
  }, timeoutMs);
});
