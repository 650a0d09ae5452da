// The uncaught-exception hook (process.on('uncaughtException', (err, origin) => ...)) in each
// unhandled-rejection mode, with and without an 'unhandledRejection' hook: a throw from a
// microtask or a timer reaches it at once and the run goes on; an unhandled rejection reaches
// it (origin 'unhandledRejection') in throw mode without the other hook, and in strict mode
// before the other hook (or a warning). warn-with-error-code without the other hook exits 1.
// A mode is a process-level flag, so this program re-runs itself as a child under each mode
// and prints the child's stdout, the essential lines of its stderr (the warning name and
// rejection id, or the message of the error it died of: no pid, no stack) and its exit status.
const { spawnSync } = require('child_process');
const log = (s) => console.log(s);

function child() {
  process.on('uncaughtException', (e, origin) => log('uncaughtException: ' + e.message + ' (' + origin + ')'));
  if (process.env.WITH_HOOK) process.on('unhandledRejection', (r) => log('unhandledRejection: ' + r.message));
  Promise.reject(new Error('boom'));
  queueMicrotask(() => { log('micro throws'); throw new Error('from micro'); });
  queueMicrotask(() => log('micro 2'));
  setTimeout(() => { log('timer throws'); throw new Error('from timer'); }, 1);
  setTimeout(() => log('timer 2'), 1);
  setTimeout(() => log('timer 3'), 30);
  process.nextTick(() => log('tick'));
  log('main');
}

function essential(stderr) {
  const lines = [];
  for (const line of stderr.split('\n')) {
    let m = /(\w+Warning): .*\(rejection id: (\d+)\)$/.exec(line);
    if (m) lines.push(`${m[1]} (rejection id: ${m[2]})`);
    else if ((m = /^\w*Error: (.*)$/.exec(line))) lines.push('error: ' + m[1]);
  }
  return lines;
}

function runChild(mode, env) {
  const r = spawnSync(process.execPath, ['--unhandled-rejections=' + mode, __filename], {
    env: { ...process.env, NODE_RULES_CHILD: '1', ...env }, encoding: 'utf8',
  });
  process.stdout.write(r.stdout);
  for (const line of essential(r.stderr)) log('stderr: ' + line);
  log('status ' + r.status);
}

if (process.env.NODE_RULES_CHILD) {
  child();
} else {
  for (const mode of ['throw', 'strict', 'warn', 'warn-with-error-code', 'none']) {
    log('--- ' + mode);
    runChild(mode, {});
    log('--- ' + mode + ', unhandledRejection hook');
    runChild(mode, { WITH_HOOK: '1' });
  }
}
