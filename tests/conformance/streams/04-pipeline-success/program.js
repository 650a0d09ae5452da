// pipeline(source, upper, sink): chunks flow through, each stage ends, finishes and closes,
// then the callback runs with no error.
const { Readable, Transform, Writable, pipeline } = require('stream');
const words = ['alpha', 'beta', 'gamma'];
let i = 0;
const source = new Readable({
  read() {
    this.push(i < words.length ? words[i++] : null);
  },
});
const upper = new Transform({
  transform(chunk, encoding, callback) {
    callback(null, chunk.toString().toUpperCase());
  },
});
const out = [];
const sink = new Writable({
  write(chunk, encoding, callback) {
    out.push(chunk.toString());
    console.log(`sink write ${chunk}`);
    setImmediate(callback);
  },
});
for (const [name, s] of [['source', source], ['upper', upper], ['sink', sink]]) {
  for (const ev of ['end', 'finish', 'close']) s.on(ev, () => console.log(`${name} ${ev}`));
  s.on('error', (err) => console.log(`${name} error ${err.message}`));
}
pipeline(source, upper, sink, (err) => {
  console.log(`pipeline done: ${err ? err.message : 'ok'}, ${out.join(' ')}`);
});
console.log('main end');
