// Work queued inside beforeExit: the listener finishes, then ticks, then microtasks (a tick
// queued by a microtask after the microtasks), then the loop runs the immediate, then the timer.
let emits = 0;
process.on('beforeExit', () => {
  emits++;
  console.log(`beforeExit ${emits} start`);
  if (emits === 1) {
    setTimeout(() => console.log('timeout'), 20);
    setImmediate(() => {
      console.log('immediate');
      process.nextTick(() => console.log('tick from immediate'));
    });
    Promise.resolve().then(() => {
      console.log('microtask 1');
      process.nextTick(() => console.log('tick from microtask'));
    });
    process.nextTick(() => {
      console.log('tick 1');
      queueMicrotask(() => console.log('microtask from tick'));
    });
    queueMicrotask(() => console.log('microtask 2'));
    process.nextTick(() => console.log('tick 2'));
  }
  console.log(`beforeExit ${emits} end`);
});
console.log('main');
