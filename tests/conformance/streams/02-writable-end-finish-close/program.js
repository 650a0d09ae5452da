// end(): the pending write completes, then _final, then 'prefinish', 'finish' and, one tick
// later, 'close' (autoDestroy). A write after end fails with an error and destroys the stream.
const { Writable } = require('stream');
const w = new Writable({
  write(chunk, encoding, callback) {
    console.log(`_write ${chunk}`);
    setTimeout(callback, 1);
  },
  final(callback) {
    console.log('_final');
    setImmediate(callback);
  },
});
w.on('prefinish', () => console.log('prefinish'));
w.on('finish', () => console.log(`finish (finished ${w.writableFinished})`));
w.on('close', () => console.log(`close (destroyed ${w.destroyed})`));
w.on('error', (err) => console.log(`error ${err.message}`));
w.write('one');
w.end('two');
console.log(`ended ${w.writableEnded}, finished ${w.writableFinished}`);
process.nextTick(() => console.log('tick'));
Promise.resolve().then(() => console.log('microtask'));
