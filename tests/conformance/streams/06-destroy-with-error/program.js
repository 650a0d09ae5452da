// destroy(err): 'error' then 'close' on the next tick; a second destroy does nothing; writes
// after destroy fail; a Duplex destroyed once reports on both sides.
const { Readable, Writable, Duplex } = require('stream');
const r = new Readable({ read() {} });
r.on('error', (err) => console.log(`readable error ${err.message}`));
r.on('close', () => console.log(`readable close (errored ${r.errored && r.errored.message})`));
r.push('x');
r.destroy(new Error('bad read'));
r.destroy(new Error('second'));
console.log(`readable destroyed ${r.destroyed}`);

const w = new Writable({ write(c, e, cb) { cb(); } });
w.on('error', (err) => console.log(`writable error ${err.message}`));
w.on('close', () => console.log('writable close'));
w.on('finish', () => console.log('writable finish'));
w.destroy(new Error('bad write'));
console.log(`write after destroy -> ${w.write('y')}`);

const d = new Duplex({ read() {}, write(c, e, cb) { cb(); } });
d.on('error', (err) => console.log(`duplex error ${err.message}`));
d.on('close', () => console.log('duplex close'));
d.on('end', () => console.log('duplex end'));
d.on('finish', () => console.log('duplex finish'));
d.destroy(new Error('bad duplex'));

const q = new Writable({ write(c, e, cb) { cb(); } });
q.on('close', () => console.log('plain destroy close'));
q.on('error', (err) => console.log(`plain destroy error ${err.message}`));
q.destroy();
process.nextTick(() => console.log('tick'));
console.log('main end');
