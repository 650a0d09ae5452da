// A Readable in flowing mode: 'data' for each pushed chunk, then 'end', then 'close'.
const { Readable } = require('stream');
let n = 0;
const r = new Readable({
  read() {
    n++;
    console.log(`_read ${n}`);
    if (n <= 3) this.push(`chunk${n}`);
    else this.push(null);
  },
});
r.on('data', (chunk) => console.log(`data ${chunk}`));
r.on('end', () => console.log('end'));
r.on('close', () => console.log('close'));
r.on('error', (err) => console.log(`error ${err.message}`));
console.log(`flowing ${r.readableFlowing}`);
process.nextTick(() => console.log('tick'));
setImmediate(() => console.log('immediate'));
console.log('main end');
