// refresh() on a one-shot timer that has fired re-arms it, whether called from another
// callback or from its own; hasRef() stays true after it fired.
let runs = 0;
const t = setTimeout(() => {
  runs++;
  console.log(`t fired ${runs}`);
}, 50);
setTimeout(() => {
  console.log(`t.hasRef after firing: ${t.hasRef()}`);
  console.log('refresh t from another timer at 100');
  t.refresh();
}, 100);
let s = 0;
const self = setTimeout(() => {
  s++;
  console.log(`self ${s}`);
  if (s === 2) {
    console.log('refresh t again');
    t.refresh();
  }
  if (s < 3) self.refresh();
}, 200);
console.log('main');
