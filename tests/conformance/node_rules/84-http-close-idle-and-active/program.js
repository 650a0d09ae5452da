// 84: closeIdleConnections closes the idle keep-alive connection and leaves the one whose
// request is in progress; close(cb) then waits for that request to finish and its connection
// to go before the callback runs.
const http = require('http');
const net = require('net');
const log = (s) => console.log(s);
let slow = null;
const server = http.createServer((req, res) => {
  log(`request ${req.url}`);
  if (req.url === '/slow') {
    slow = res;
    setImmediate(closeSteps);
    return;
  }
  res.end('ok');
});
function client(path, onResponse) {
  const c = net.connect(server.address().port, '127.0.0.1');
  c.setEncoding('latin1');
  let got = '';
  c.on('data', (d) => {
    got += d;
    if (got.endsWith('\r\n\r\nok') && onResponse)
      onResponse();
  });
  c.on('error', () => {});
  c.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
}
function closeSteps() {
  server.getConnections((err, n) => log(`connections ${n}`));
  setImmediate(() => {
    log('closeIdleConnections');
    server.closeIdleConnections();
    server.getConnections((err, n) => log(`connections after closeIdleConnections ${n}`));
    setImmediate(() => {
      log('close');
      server.close((err) => log(`server close callback ${err}`));
      setImmediate(() => {
        log('ending the slow response');
        slow.end('ok');
      });
    });
  });
}
server.listen(0, '127.0.0.1', () => {
  log('listening');
  client('/a', () => client('/slow'));
});
