// An interval whose callback runs longer than its period: the next run is due one period
// after the callback started, so it is already late when the callback returns and comes at
// once or within about one period (when the poll phase's wait is computed from the clock read
// before the callback, as libuv does); runs never overlap, missed periods are not made up.
// Spacing is printed in coarse buckets so that the trace is deterministic: the gap between the
// end of a run and the start of the next one is 0-23 ms under Node 20 depending on what else
// the loop has pending, and about one period under Calcifer; both are below BUSY.
const PERIOD = 20;
const BUSY = 60;
const RUNS = 4;
const starts = [];
const ends = [];
function busy(ms) {
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    // spin
  }
}
const iv = setInterval(() => {
  starts.push(performance.now());
  console.log(`run ${starts.length}`);
  busy(BUSY);
  ends.push(performance.now());
  if (starts.length === RUNS) {
    clearInterval(iv);
    for (let i = 1; i < RUNS; i++) {
      const gap = starts[i] - starts[i - 1];
      const idle = starts[i] - ends[i - 1];
      console.log(`run ${i + 1}: start-to-start ${gap >= BUSY ? '>= busy' : '< busy'}, ` +
                  `end-to-start ${idle < BUSY ? '< busy' : '>= busy'}`);
    }
  }
}, PERIOD);
console.log('main');
