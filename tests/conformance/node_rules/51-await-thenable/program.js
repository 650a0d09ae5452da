// Awaiting a thenable (not a native promise): its then is called in a microtask job of its
// own, and the await resumes one turn after the thenable resolves; a throwing then or a
// rejecting thenable throws at the await. A chain of .then steps logs each turn.
const log = (s) => console.log(s);

const syncThenable = { then(resolve) { log('sync then called'); resolve('s'); } };
const laterThenable = {
  then(resolve) { log('later then called'); setTimeout(() => resolve('l'), 1); },
};
const rejecting = { then(resolve, reject) { log('rejecting then called'); reject(new Error('r')); } };
const throwing = { then() { log('throwing then called'); throw new Error('t'); } };

async function awaitSync() { const v = await syncThenable; log('await sync: ' + v); }
async function awaitLater() { const v = await laterThenable; log('await later: ' + v); }
async function awaitRejecting() {
  try { await rejecting; } catch (e) { log('await rejecting threw: ' + e.message); }
}
async function awaitThrowing() {
  try { await throwing; } catch (e) { log('await throwing threw: ' + e.message); }
}
async function awaitPromise() { const v = await Promise.resolve('p'); log('await promise: ' + v); }

Promise.resolve()
  .then(() => log('tick 1'))
  .then(() => log('tick 2'))
  .then(() => log('tick 3'))
  .then(() => log('tick 4'));
awaitSync();
awaitRejecting();
awaitThrowing();
awaitPromise();
awaitLater();
log('main');
