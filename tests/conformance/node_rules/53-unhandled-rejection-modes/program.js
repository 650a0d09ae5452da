// The unhandled-rejection modes (node --unhandled-rejections=MODE): a promise rejected in the
// main code, handled only by a timer later. throw and strict end the process at the report
// (exit code 1, the timers never run); warn warns and goes on; warn-with-error-code warns,
// goes on, and exits with code 1 once the loop is done; none says nothing. In every mode but
// throw and strict the late handler gives a PromiseRejectionHandledWarning.
// A mode is a process-level flag, so this program re-runs itself as a child under each mode
// and prints the child's stdout, the essential lines of its stderr (the warning name and
// rejection id, or the message of the error it died of: no pid, no stack) and its exit status.
const { spawnSync } = require('child_process');
const log = (s) => console.log(s);

function child() {
  process.on('exit', (c) => log('exit ' + c));
  const p = Promise.reject(new Error('boom'));
  setTimeout(() => { log('timer'); p.catch((e) => log('caught ' + e.message)); }, 5);
  setTimeout(() => log('timer 2'), 30);
  Promise.resolve().then(() => log('micro'));
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
  }
}
