// timeout.refresh() restarts a pending timer with its own delay from now: refreshed at once,
// it goes after the timers of the same delay started before; refreshed later, it is postponed.
// An interval refreshed restarts its period from then.
// The gaps are wide (a timer refreshed in a callback is at least 170 ms from the next line it
// is compared with) so that a loop slowed down by a loaded machine keeps the order.
const a = setTimeout(() => console.log('A (refreshed at once)'), 100);
setTimeout(() => console.log('B'), 100);
a.refresh();
const d = setTimeout(() => console.log('D (200 ms, refreshed at 130: due at 330)'), 200);
setTimeout(() => {
  console.log('refresh D at 130');
  d.refresh();
}, 130);
let n = 0;
const iv = setInterval(() => {
  n++;
  console.log(`interval ${n}`);
  if (n === 2) clearInterval(iv);
}, 240);
setTimeout(() => {
  console.log('refresh interval at 280: next run at 520, not 480');
  iv.refresh();
}, 280);
setTimeout(() => console.log('C at 300'), 300);
setTimeout(() => console.log('E at 500'), 500);
console.log('main');
