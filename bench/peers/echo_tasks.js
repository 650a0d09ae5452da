// The Node side of bench/bench_echo_tasks.c: a TCP echo server on 127.0.0.1, one async
// function per connection.
//
//   node --expose-gc echo_tasks.js [FORM]
//
// FORM is how each connection's async function reads and writes:
//   iter   (default) `for await (const chunk of socket)`, then `socket.write(chunk)`, awaiting
//          'drain' when write() returns false: the idiomatic form, and the faster of the two
//          here;
//   data   a promise per chunk resolved by once('data') with the socket paused between reads,
//          then the write awaited until its callback (sent to the kernel).
//
// Prints `port N` once listening. On SIGUSR2 it runs a full GC and prints `gc done`, so the
// benchmark can read the resident memory without garbage. Runs until killed (SIGTERM).
'use strict';

const net = require('net');
const { once } = require('events');

const form = process.argv[2] || 'iter';
const gc = global.gc || (() => {});

async function echoIter(socket) {
  for await (const chunk of socket) {
    if (!socket.write(chunk)) await once(socket, 'drain');
  }
}

function readChunk(socket) {
  return new Promise((resolve, reject) => {
    const onData = (chunk) => {
      socket.pause();
      socket.off('end', onEnd);
      socket.off('error', onError);
      resolve(chunk);
    };
    const onEnd = () => {
      socket.off('data', onData);
      socket.off('error', onError);
      resolve(null);
    };
    const onError = (err) => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      reject(err);
    };
    socket.once('data', onData);
    socket.once('end', onEnd);
    socket.once('error', onError);
    socket.resume();
  });
}

function writeChunk(socket, chunk) {
  return new Promise((resolve, reject) => {
    socket.write(chunk, (err) => (err ? reject(err) : resolve()));
  });
}

async function echoData(socket) {
  for (;;) {
    const chunk = await readChunk(socket);
    if (chunk === null) break;
    await writeChunk(socket, chunk);
  }
}

const echo = form === 'data' ? echoData : echoIter;

const server = net.createServer((socket) => {
  echo(socket)
    .catch(() => {})
    .finally(() => socket.end());
});

process.on('SIGUSR2', () => {
  gc();
  process.stdout.write('gc done\n');
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`port ${server.address().port}\n`);
});
