// An exit listener that schedules more work: the timer, interval and immediate never run, nor
// the tick; the microtasks (and those they queue) do, after every exit listener.
process.on('exit', () => {
  console.log('exit 1');
  setTimeout(() => console.log('timer (never runs)'), 0);
  setInterval(() => console.log('interval (never runs)'), 1);
  setImmediate(() => console.log('immediate (never runs)'));
  process.nextTick(() => console.log('tick (never runs)'));
  Promise.resolve().then(() => {
    console.log('microtask from exit');
    queueMicrotask(() => console.log('nested microtask'));
    process.nextTick(() => console.log('tick from microtask (never runs)'));
  });
  console.log('exit 1 end');
});
process.on('exit', () => console.log('exit 2'));
setTimeout(() => console.log('main timer'), 1);
console.log('main');
