// Paused mode: 'readable' says data waits, read() takes everything buffered, read(n) takes
// exactly n bytes or nothing, and 'end' comes once the buffer is empty after the end.
const { Readable } = require('stream');
const parts = ['abc', 'defg', 'hi'];
let i = 0;
const r = new Readable({
  highWaterMark: 4,
  read() {
    const p = i < parts.length ? parts[i++] : null;
    console.log(`_read -> ${p}`);
    this.push(p);
  },
});
let round = 0;
r.on('readable', () => {
  round++;
  console.log(`readable ${round} (length ${r.readableLength})`);
  if (round === 1) {
    const two = r.read(2);
    console.log(`read(2) ${two}`);
    const many = r.read(100);
    console.log(`read(100) ${many}`);
  }
  let chunk;
  while ((chunk = r.read()) !== null) console.log(`read() ${chunk}`);
});
r.on('end', () => console.log('end'));
r.on('close', () => console.log('close'));
console.log(`flowing ${r.readableFlowing}`);
console.log('main end');
