// An async function that returns a promise (or a thenable) instead of a value: its own
// promise adopts it, which costs V8's two extra microtask turns for a native promise, and
// one job calling then for a thenable. A chain of .then steps logs each turn.
const log = (s) => console.log(s);

async function returnsValue() { return 'v'; }
async function returnsPromise() { return Promise.resolve('p'); }
async function returnsPending() {
  return new Promise((resolve) => setTimeout(() => resolve('late'), 1));
}
async function returnsRejected() { return Promise.reject(new Error('no')); }
async function returnsThenable() {
  return { then(resolve) { log('thenable.then called'); resolve('t'); } };
}
async function returnsAwaited() { return await Promise.resolve('a'); }

Promise.resolve()
  .then(() => log('tick 1'))
  .then(() => log('tick 2'))
  .then(() => log('tick 3'))
  .then(() => log('tick 4'))
  .then(() => log('tick 5'));
returnsValue().then((v) => log('value: ' + v));
returnsPromise().then((v) => log('promise: ' + v));
returnsRejected().catch((e) => log('rejected: ' + e.message));
returnsThenable().then((v) => log('thenable: ' + v));
returnsAwaited().then((v) => log('awaited: ' + v));
returnsPending().then((v) => log('pending: ' + v));
log('main');
