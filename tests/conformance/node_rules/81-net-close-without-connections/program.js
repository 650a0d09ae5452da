// 81: a server that never had a connection (and no connection listener) closes at once;
// close(cb)'s callback is neither synchronous nor in the close phase: Node emits 'close'
// from a tick queued by close(). getConnections after close still answers, from a tick.
const net = require('net');
const log = (s) => console.log(s);
const server = net.createServer();
server.listen(0, '127.0.0.1', () => {
  log('listening');
  setImmediate(() => {
    log('immediate');
    process.nextTick(() => log('tick before close'));
    Promise.resolve().then(() => log('promise before close'));
    server.close((err) => log(`close callback ${err}`));
    log(`close returned, listening ${server.listening}`);
    server.getConnections((err, n) => log(`getConnections after close ${n}`));
    process.nextTick(() => log('tick after close'));
    Promise.resolve().then(() => log('promise after close'));
    setImmediate(() => log('immediate after close'));
  });
});
