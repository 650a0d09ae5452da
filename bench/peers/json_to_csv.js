// The Node side of bench/bench_csv.c: read a JSON array of objects, JSON.parse it, and build
// an RFC 4180 CSV string of the chosen columns (header row, CRLF, fields quoted only when
// they contain a comma, a quote, CR or LF; quotes doubled) — the usual way a Node program
// does it. Writes the CSV to OUT and prints the elapsed milliseconds (read + parse + build +
// write, process start-up excluded) and the CSV's size in bytes on stdout.
//
//   node json_to_csv.js IN.json OUT.csv title,release_date
'use strict';
const fs = require('fs');

function field(v) {
  if (v === undefined || v === null) return '';
  const s = typeof v === 'object' ? JSON.stringify(v) : String(v);
  return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}

const [input, output, columns] = process.argv.slice(2);
const cols = columns.split(',');
const start = process.hrtime.bigint();
const rows = JSON.parse(fs.readFileSync(input, 'utf8'));
let csv = cols.map(field).join(',') + '\r\n';
for (const row of rows) {
  csv += cols.map((c) => field(row[c])).join(',') + '\r\n';
}
fs.writeFileSync(output, csv);
const ms = Number(process.hrtime.bigint() - start) / 1e6;
process.stdout.write(`${ms.toFixed(1)} ${Buffer.byteLength(csv)}\n`);
