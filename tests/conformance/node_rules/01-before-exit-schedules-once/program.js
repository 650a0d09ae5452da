// A beforeExit listener that schedules a timer the first time only: the loop goes on, runs the
// timer, runs out of work again and emits beforeExit a second time, which schedules nothing.
let emits = 0;
process.on('beforeExit', () => {
  emits++;
  console.log(`beforeExit ${emits}`);
  if (emits === 1) {
    setTimeout(() => console.log('timer from beforeExit'), 5);
  }
});
process.on('exit', () => console.log(`exit after ${emits} beforeExit`));
setTimeout(() => console.log('main timer'), 1);
console.log('main');
