// Peer of bench/bench_fs.c: read a whole file with fs.promises.readFile, `count` times one
// after another, and print the seconds of the median run.
//   node readfile.js FILE COUNT REPEAT
'use strict';
const fs = require('fs');

async function main() {
  const [file, count, repeat] = [process.argv[2], +process.argv[3], +process.argv[4]];
  const times = [];
  for (let r = 0; r < repeat; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < count; i++) {
      const data = await fs.promises.readFile(file);
      if (data.length === 0) throw new Error('empty file');
    }
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  times.sort((a, b) => a - b);
  console.log(times[Math.floor(repeat / 2)].toFixed(6));
}

main().catch((e) => { console.error(e); process.exit(1); });
