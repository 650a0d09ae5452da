// 83: http.Server.close(cb) closes an idle keep-alive connection at once (Node 19+ runs
// closeIdleConnections in close), so with nothing else open its callback comes from a tick
// queued by close(). The connection count drops at once.
const http = require('http');
const net = require('net');
const log = (s) => console.log(s);
const server = http.createServer((req, res) => {
  log(`request ${req.url}`);
  res.end('ok');
});
server.listen(0, '127.0.0.1', () => {
  log('listening');
  const c = net.connect(server.address().port, '127.0.0.1');
  c.setEncoding('latin1');
  let got = '';
  c.on('data', (d) => {
    got += d;
    if (!got.endsWith('\r\n\r\nok'))
      return;
    log('response received');
    server.getConnections((err, n) => log(`connections ${n}`));
    setImmediate(() => {
      process.nextTick(() => log('tick before close'));
      server.close((err) => log(`server close callback ${err}`));
      log('close returned');
      process.nextTick(() => log('tick after close'));
      Promise.resolve().then(() => log('promise after close'));
      server.getConnections((err, n) => log(`connections after close ${n}`));
    });
  });
  c.on('error', () => {});
  c.write('GET /a HTTP/1.1\r\nHost: x\r\n\r\n');
});
