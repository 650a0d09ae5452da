// clearInterval from the interval's own callback: it never runs again, also when another
// timer is due at the same time.
let n = 0;
const iv = setInterval(() => {
  n++;
  console.log(`interval ${n}`);
  if (n === 3) {
    clearInterval(iv);
    console.log('cleared from its own callback');
  }
}, 30);
const once = setInterval(() => {
  console.log('once: clears itself in its first run');
  clearInterval(once);
}, 20);
setTimeout(() => console.log('timeout due with once'), 20);
setTimeout(() => console.log('at 200: no more interval runs'), 200);
console.log('main');
