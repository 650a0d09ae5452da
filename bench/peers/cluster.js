// Node peer of bench/http_workers.sh: the http server of http_server.js forked into N
// workers with the cluster module (Node's default scheduling on Linux: round-robin, the
// primary accepts and hands each connection to a worker). Serves one file's bytes as the
// films JSON with the headers the Ghibli stand-in sends. The primary prints "PORT <n>" once
// every worker listens, and on SIGTERM stops them and prints "WORKER k CONNECTIONS n".
//   node cluster.js FILE N
const cluster = require('cluster');
const http = require('http');
const fs = require('fs');

const file = process.argv[2];
const n = Number(process.argv[3] || 1);

if (cluster.isPrimary) {
  const counts = new Array(n).fill(0);
  let listening = 0;
  let port = 0;
  for (let k = 0; k < n; k++) {
    const w = cluster.fork({ WORKER_INDEX: String(k), WORKER_PORT: String(port) });
    w.on('message', (m) => {
      if (m.connections !== undefined) counts[k] = m.connections;
    });
    w.on('listening', (address) => {
      port = address.port;
      if (++listening === n) console.log(`PORT ${port}`);
    });
  }
  let left = n;
  cluster.on('exit', () => {
    if (--left === 0) {
      counts.forEach((c, k) => console.log(`WORKER ${k} CONNECTIONS ${c}`));
      process.exit(0);
    }
  });
  process.on('SIGTERM', () => {
    for (const id in cluster.workers) cluster.workers[id].send('stop');
  });
} else {
  const body = fs.readFileSync(file);
  let connections = 0;
  const server = http.createServer((req, res) => {
    res.writeHead(200, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': body.length,
    });
    res.end(body);
  });
  server.keepAliveTimeout = 0;
  server.headersTimeout = 0;
  server.requestTimeout = 0;
  server.maxConnections = 100000;
  server.on('connection', () => connections++);
  // Every worker listens on port 0: the primary binds once and shares that one port.
  server.listen(0, '127.0.0.1');
  process.on('SIGTERM', () => {}); // the primary stops the workers
  process.on('message', (m) => {
    if (m !== 'stop') return;
    process.send({ connections }, () => {
      server.close(() => process.exit(0));
      server.closeAllConnections();
    });
  });
}
