// A promise can be rejected with any value, not only an Error: a number, a string,
// undefined, a plain object. catch handlers and try/catch around await receive the value
// itself and can tell an Error from another value.
const log = (s) => console.log(s);
const describe = (r) => (r instanceof Error ? 'error ' + r.message
  : r === undefined ? 'value undefined'
  : typeof r === 'object' ? 'value object ' + r.name : 'value ' + typeof r + ' ' + r);

const reasons = [42, 'text', undefined, { name: 'obj' }, new Error('err')];
for (const r of reasons) Promise.reject(r).catch((e) => log('catch: ' + describe(e)));

async function thrower(r) { throw r; }
async function main() {
  for (const r of reasons) {
    try { await thrower(r); } catch (e) { log('await: ' + describe(e)); }
  }
  try { await Promise.reject(7).then(() => log('skipped')); } catch (e) {
    log('through then: ' + describe(e));
  }
  const settled = await Promise.allSettled([Promise.reject('s'), Promise.resolve(1)]);
  log('allSettled: ' + settled.map((s) => s.status + ' ' + (s.reason ?? s.value)).join(', '));
}
main().then(() => log('done'));
log('main');
