// Object mode: the high-water mark counts objects. finished() reports the end of a stream,
// and an error when it is destroyed first.
const { Readable, Writable, finished } = require('stream');
const w = new Writable({
  objectMode: true,
  highWaterMark: 2,
  write(obj, encoding, callback) {
    console.log(`_write ${obj.n}`);
    setImmediate(callback);
  },
});
finished(w, (err) => console.log(`finished writable: ${err ? err.message : 'ok'}`));
w.on('drain', () => console.log('drain'));
w.on('finish', () => console.log('finish'));
w.on('close', () => console.log('close'));
for (let n = 1; n <= 3; n++) console.log(`write ${n} -> ${w.write({ n })}`);
w.end();
const r = new Readable({ objectMode: true, read() {} });
finished(r, (err) => console.log(`finished readable: ${err ? err.message : 'ok'}`));
r.on('error', (err) => console.log(`readable error ${err.message}`));
r.on('close', () => console.log('readable close'));
r.push({ n: 1 });
setImmediate(() => r.destroy(new Error('gone')));
console.log('main end');
