// timeout.refresh() restarts a pending timer with its own delay from now: refreshed at once,
// it goes after the timers of the same delay started before; refreshed later, it is postponed.
// An interval refreshed restarts its period from then.
const a = setTimeout(() => console.log('A (refreshed at once)'), 50);
setTimeout(() => console.log('B'), 50);
a.refresh();
const d = setTimeout(() => console.log('D (100 ms, refreshed at 80: due at 180)'), 100);
setTimeout(() => {
  console.log('refresh D at 80');
  d.refresh();
}, 80);
let n = 0;
const iv = setInterval(() => {
  n++;
  console.log(`interval ${n}`);
  if (n === 2) clearInterval(iv);
}, 120);
setTimeout(() => {
  console.log('refresh interval at 140: next run at 260, not 240');
  iv.refresh();
}, 140);
setTimeout(() => console.log('C at 150'), 150);
setTimeout(() => console.log('E at 250'), 250);
console.log('main');
