// Ending the loop explicitly (process.exit() from the last callback) skips beforeExit; the
// exit listeners still run.
process.on('beforeExit', () => console.log('beforeExit (never runs)'));
process.on('exit', () => console.log('exit'));
let n = 0;
const iv = setInterval(() => {
  n++;
  console.log(`interval ${n}`);
  if (n === 3) {
    process.exit();
  }
}, 2);
console.log('main');
