// 82: close(cb) stops accepting at once; its callback waits for the last open connection.
// It runs from a tick queued when that connection is destroyed: after the callback that
// destroyed it, before promise reactions, and before the socket's own 'close' (close phase).
const net = require('net');
const log = (s) => console.log(s);
const server = net.createServer((sock) => {
  log('connection');
  sock.on('close', () => log('server socket close'));
  server.close((err) => log(`server close callback ${err}`));
  log(`close returned, listening ${server.listening}`);
  server.getConnections((err, n) => log(`getConnections ${n}`));
  setImmediate(() => {
    log('immediate');
    process.nextTick(() => log('tick before destroy'));
    sock.destroy();
    log('destroy returned');
    process.nextTick(() => log('tick after destroy'));
    Promise.resolve().then(() => log('promise after destroy'));
    setImmediate(() => log('immediate after destroy'));
  });
});
server.listen(0, '127.0.0.1', () => {
  log('listening');
  const client = net.connect(server.address().port, '127.0.0.1');
  client.on('error', () => {});
  client.resume();
});
