// Peer of bench/bench_stream.c: copy a file with stream.pipeline(fs.createReadStream(src),
// fs.createWriteStream(dst)) (default high-water marks), REPEAT times, and print the seconds
// of the median run.
//   node stream_copy.js SRC DST REPEAT
'use strict';
const fs = require('fs');
const { pipeline } = require('stream/promises');

async function main() {
  const [src, dst, repeat] = [process.argv[2], process.argv[3], +process.argv[4]];
  const times = [];
  for (let r = 0; r < repeat; r++) {
    const t0 = process.hrtime.bigint();
    await pipeline(fs.createReadStream(src), fs.createWriteStream(dst));
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  times.sort((a, b) => a - b);
  console.log(times[Math.floor(repeat / 2)].toFixed(6));
}

main().catch((e) => { console.error(e); process.exit(1); });
