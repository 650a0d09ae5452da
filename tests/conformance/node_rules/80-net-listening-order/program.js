// 80: 'listening' after listen(0, '127.0.0.1') comes from a tick queued by a tick: Node first
// looks the host up (an address is answered from a tick) and the lookup's callback queues
// 'listening'. So it runs after the ticks the main program queued, before any promise
// reaction. getConnections' callback inside it is a tick too.
const net = require('net');
const log = (s) => console.log(s);
const server = net.createServer();
process.nextTick(() => log('tick before listen'));
Promise.resolve().then(() => log('promise before listen'));
server.listen(0, '127.0.0.1', () => {
  log('listening');
  process.nextTick(() => log('tick in listening'));
  Promise.resolve().then(() => log('promise in listening'));
  server.getConnections((err, n) => log(`getConnections ${err} ${n}`));
  process.nextTick(() => log('tick after getConnections'));
  setImmediate(() => {
    log('immediate');
    server.close(() => log('closed'));
  });
});
process.nextTick(() => log('tick after listen'));
process.nextTick(() => process.nextTick(() => log('tick queued by a tick')));
Promise.resolve().then(() => log('promise after listen'));
log('main end');
