// A Writable with a 4-byte high-water mark: write returns false once 4 bytes or more wait,
// 'drain' comes once they are all written, and only then.
const { Writable } = require('stream');
const w = new Writable({
  highWaterMark: 4,
  write(chunk, encoding, callback) {
    console.log(`_write ${chunk} (length ${this.writableLength})`);
    setImmediate(callback);
  },
});
w.on('drain', () => {
  console.log(`drain (length ${w.writableLength})`);
  console.log(`write gh -> ${w.write('gh')}`);
  w.end();
});
w.on('finish', () => console.log('finish'));
w.on('close', () => console.log('close'));
w.on('error', (err) => console.log(`error ${err.message}`));
console.log(`write ab -> ${w.write('ab')}`);
console.log(`write cd -> ${w.write('cd')}`);
console.log(`write ef -> ${w.write('ef')}`);
console.log(`length ${w.writableLength}, needDrain ${w.writableNeedDrain}`);
console.log('main end');
