// Peer of bench/bench_stream.c -w: write MIB mebibytes to DST through fs.createWriteStream
// in chunks of CHUNK bytes (a new Buffer each, as a producer of records would make), waiting
// for 'drain' whenever write() returns false, REPEAT times; print the seconds of the median.
//   node stream_write.js DST MIB CHUNK REPEAT
'use strict';
const fs = require('fs');

function once(dst, total, chunk) {
  return new Promise((resolve, reject) => {
    const ws = fs.createWriteStream(dst);
    const t0 = process.hrtime.bigint();
    let sent = 0;
    const go = () => {
      while (sent < total) {
        const n = Math.min(chunk, total - sent);
        const buf = Buffer.alloc(n, 97 + (sent % 26));
        sent += n;
        if (!ws.write(buf)) {
          ws.once('drain', go);
          return;
        }
      }
      ws.end();
    };
    ws.on('finish', () => resolve(Number(process.hrtime.bigint() - t0) / 1e9));
    ws.on('error', reject);
    go();
  });
}

async function main() {
  const [dst, mib, chunk, repeat] = [process.argv[2], +process.argv[3], +process.argv[4],
    +process.argv[5]];
  const times = [];
  for (let r = 0; r < repeat; r++)
    times.push(await once(dst, mib * 1048576, chunk));
  times.sort((a, b) => a - b);
  console.log(times[Math.floor(repeat / 2)].toFixed(6));
}

main().catch((e) => { console.error(e); process.exit(1); });
