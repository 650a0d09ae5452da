// 85: closeAllConnections destroys every connection, a request in progress included; after
// close(cb) that makes the close callback come from a tick queued right then.
const http = require('http');
const net = require('net');
const log = (s) => console.log(s);
const server = http.createServer((req, res) => {
  log(`request ${req.url}`);
  setImmediate(() => {
    process.nextTick(() => log('tick before close'));
    server.close((err) => log(`server close callback ${err}`));
    server.getConnections((err, n) => log(`connections after close ${n}`));
    server.closeAllConnections();
    log('closeAllConnections returned');
    server.getConnections((err, n) => log(`connections after closeAllConnections ${n}`));
    process.nextTick(() => log('tick after closeAllConnections'));
    Promise.resolve().then(() => log('promise after closeAllConnections'));
    setImmediate(() => log('immediate after closeAllConnections'));
  });
});
server.listen(0, '127.0.0.1', () => {
  log('listening');
  const c = net.connect(server.address().port, '127.0.0.1');
  c.on('error', () => {});
  c.resume();
  c.write('GET /x HTTP/1.1\r\nHost: x\r\n\r\n');
});
