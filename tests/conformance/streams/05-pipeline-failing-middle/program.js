// pipeline(source, middle, sink) whose middle stage fails on its second chunk: the error
// reaches every stage (each is destroyed with it), and the callback gets the first error.
const { Readable, Transform, Writable, pipeline } = require('stream');
let i = 0;
const source = new Readable({
  read() {
    i++;
    this.push(i <= 5 ? `c${i}` : null);
  },
});
let seen = 0;
const middle = new Transform({
  transform(chunk, encoding, callback) {
    seen++;
    console.log(`middle transform ${chunk}`);
    if (seen === 2) callback(new Error('middle failed'));
    else callback(null, chunk);
  },
});
const sink = new Writable({
  write(chunk, encoding, callback) {
    console.log(`sink write ${chunk}`);
    setImmediate(callback);
  },
});
for (const [name, s] of [['source', source], ['middle', middle], ['sink', sink]]) {
  for (const ev of ['end', 'finish', 'close']) s.on(ev, () => console.log(`${name} ${ev}`));
  s.on('error', (err) => console.log(`${name} error ${err.message}`));
}
pipeline(source, middle, sink, (err) => {
  console.log(`pipeline done: ${err ? err.message : 'ok'}`);
  console.log(`destroyed ${source.destroyed} ${middle.destroyed} ${sink.destroyed}`);
});
console.log('main end');
