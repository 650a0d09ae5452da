// The Node side of bench/bench_http_parse.c: Node's own HTTP/1.1 parser (llhttp, reached
// through process.binding('http_parser'), as node:http's server drives it) over a file of
// pipelined requests, fed in 64 KiB slices, ROUNDS times. Callbacks do what the server's do:
// headers arrive as JS strings, bodies as Buffer slices. Prints `requests N`, `bytes N` and
// `ms T` (best round, process start-up excluded).
//
//   node http_parse.js REQUESTS_FILE ROUNDS
'use strict';
const fs = require('fs');

process.noDeprecation = true;
const { HTTPParser } = process.binding('http_parser');
const [file, roundsArg] = process.argv.slice(2);
const input = fs.readFileSync(file);
const rounds = Number(roundsArg || 5);
const SLICE = 64 * 1024;

let messages = 0;
let bodyBytes = 0;
let headerCount = 0;
let pendingUrl = '';

function makeParser() {
  const p = new HTTPParser();
  p.initialize(HTTPParser.REQUEST, {}, 0, 0);
  // A head split across slices arrives in pieces through kOnHeaders first, as in node:http.
  p[HTTPParser.kOnHeaders] = (headers, url) => { headerCount += headers.length; pendingUrl += url; };
  p[HTTPParser.kOnHeadersComplete] = (major, minor, headers, method, url) => {
    headerCount += headers ? headers.length : 0;
    url = url || pendingUrl;
    pendingUrl = '';
    return url.length > 0 ? 0 : 1;
  };
  p[HTTPParser.kOnBody] = (b) => { bodyBytes += b.length; };
  p[HTTPParser.kOnMessageComplete] = () => { messages++; };
  return p;
}

let best = Infinity;
for (let r = 0; r < rounds; r++) {
  const parser = makeParser();
  messages = 0;
  const start = process.hrtime.bigint();
  for (let off = 0; off < input.length; off += SLICE) {
    const ret = parser.execute(input.subarray(off, Math.min(off + SLICE, input.length)));
    if (ret instanceof Error) throw ret;
  }
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  parser.finish();
  parser.close();
  if (ms < best) best = ms;
}
process.stdout.write(`requests ${messages}\nbytes ${input.length}\nms ${best.toFixed(3)}\n`);
