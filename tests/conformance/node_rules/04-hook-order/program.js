// Several listeners run in registration order; the same listener twice runs twice; removal
// takes the most recent registration out; a listener added while the event runs waits for the
// next emit.
function a() { console.log('A'); }
function b() { console.log('B'); }
let emits = 0;
function c() {
  emits++;
  console.log(`C ${emits}`);
  if (emits === 1) {
    process.on('beforeExit', late);
    setTimeout(() => console.log('timer'), 1);
  }
}
function late() { console.log('late'); }
function x1() { console.log('exit X1'); }
function x2() { console.log('exit X2'); }
process.on('beforeExit', a);
process.on('beforeExit', b);
process.on('beforeExit', a);
process.on('beforeExit', c);
process.on('beforeExit', b);
process.off('beforeExit', b);
process.on('exit', x1);
process.on('exit', x2);
process.on('exit', x1);
process.off('exit', x2);
console.log('main');
