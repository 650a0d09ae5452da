// ref()/unref() and refresh(): a refreshed unref'd timer stays unref'd (and fires while the
// loop is alive for another timer); one refreshed then ref'd keeps the loop alive; one that
// stays unref'd never fires once nothing else is left.
setTimeout(() => console.log('keepalive at 200'), 200);
const u = setTimeout(() => console.log('u fired (unref, refreshed at 50)'), 100);
u.unref();
setTimeout(() => {
  u.refresh();
  console.log(`after refresh u.hasRef ${u.hasRef()}`);
}, 50);
const v = setTimeout(() => console.log('v fired (refreshed and ref\'d at 175)'), 300);
v.unref();
setTimeout(() => {
  v.refresh();
  v.ref();
  console.log(`v.hasRef ${v.hasRef()}`);
}, 175);
const w = setTimeout(() => console.log('w (never runs)'), 1000);
w.unref();
setTimeout(() => {
  w.refresh();
  console.log(`w.hasRef ${w.hasRef()}`);
}, 250);
console.log(`u.hasRef ${u.hasRef()}`);
console.log('main');
