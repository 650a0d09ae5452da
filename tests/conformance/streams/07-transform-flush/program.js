// A Transform with a flush: each chunk is pushed upper-cased, flush pushes a trailer after
// the last one; the readable side ends after the flush, then the stream closes.
const { Transform } = require('stream');
const t = new Transform({
  transform(chunk, encoding, callback) {
    console.log(`_transform ${chunk}`);
    this.push(chunk.toString().toUpperCase());
    callback();
  },
  flush(callback) {
    console.log('_flush');
    this.push('[trailer]');
    setImmediate(callback);
  },
});
t.on('data', (chunk) => console.log(`data ${chunk}`));
for (const ev of ['prefinish', 'finish', 'end', 'close']) t.on(ev, () => console.log(ev));
t.on('error', (err) => console.log(`error ${err.message}`));
console.log(`write a -> ${t.write('a')}`);
console.log(`write b -> ${t.write('b')}`);
t.end('c');
console.log('main end');
