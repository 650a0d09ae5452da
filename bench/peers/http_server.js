// Node peer of bench/http_server.sh: an http.createServer serving one file's bytes as the
// films JSON, with the headers the Ghibli stand-in sends. Prints "PORT <n>" once listening.
//   node http_server.js FILE [KEEP_ALIVE_MS]     (KEEP_ALIVE_MS 0: never time out)
const http = require('http');
const fs = require('fs');

const body = fs.readFileSync(process.argv[2]);
const keepAlive = process.argv[3] === undefined ? 5000 : Number(process.argv[3]);
const server = http.createServer((req, res) => {
  res.writeHead(200, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': body.length,
  });
  res.end(body);
});
server.keepAliveTimeout = keepAlive;
server.headersTimeout = 0;
server.requestTimeout = 0;
server.maxConnections = 100000;
server.listen(0, '127.0.0.1', () => {
  console.log(`PORT ${server.address().port}`);
});
process.on('SIGTERM', () => process.exit(0));
