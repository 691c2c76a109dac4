// The generated cron files against a strict system-crontab parser, the systemd units against systemd-analyze verify.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { read, runStep, scratch, SHELLS } from './harness.ts';

const FIELDS: [string, number, number][] = [
  ['minute', 0, 59],
  ['hour', 0, 23],
  ['day of month', 1, 31],
  ['month', 1, 12],
  ['day of week', 0, 7],
];

/** One time field: lists of *, N, N-M, each with an optional /STEP; numbers in range. Throws on error. */
function checkField(text: string, [name, lo, hi]: [string, number, number]) {
  for (const item of text.split(',')) {
    const m = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(item);
    if (!m) throw new Error(`bad ${name} '${item}'`);
    const [, , a, b, step] = m;
    for (const n of [a, b]) if (n !== undefined && (Number(n) < lo || Number(n) > hi)) throw new Error(`${name} ${n} out of ${lo}-${hi}`);
    if (a !== undefined && b !== undefined && Number(a) > Number(b)) throw new Error(`${name} range ${a}-${b} reversed`);
    if (step !== undefined && (Number(step) < 1 || Number(step) > hi - lo + 1)) throw new Error(`${name} step ${step}`);
  }
}

/** A strict reader of the system crontab format (/etc/cron.d): env lines, 5 time fields, user, command. */
export function parseSystemCrontab(name: string, text: string, mode: number) {
  if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new Error(`file name '${name}' is ignored by cron (run-parts rules: no dots)`);
  if ((mode & 0o022) !== 0) throw new Error('cron ignores group/other-writable files');
  if ((mode & 0o111) !== 0) throw new Error('cron file should not be executable');
  if (!text.endsWith('\n')) throw new Error('last line lacks a newline (cron drops it)');
  const env: Record<string, string> = {};
  const jobs: { time: string[]; user: string; command: string }[] = [];
  for (const line of text.slice(0, -1).split('\n')) {
    if (/^\s*(#|$)/.test(line)) continue;
    const e = /^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (e) {
      env[e[1]] = e[2];
      continue;
    }
    const parts = line.trim().split(/[ \t]+/);
    if (parts.length < 7) throw new Error(`too few fields: ${line}`);
    const time = parts.slice(0, 5);
    time.forEach((f, i) => checkField(f, FIELDS[i]));
    const user = parts[5];
    if (!/^[a-z_][a-z0-9_-]*$/.test(user)) throw new Error(`bad user '${user}'`);
    const command = line
      .trim()
      .split(/[ \t]+/)
      .slice(6)
      .join(' ');
    if (command.includes('%')) throw new Error('% in a command is a newline to cron');
    jobs.push({ time, user, command });
  }
  return { env, jobs };
}

test('the strict crontab parser refuses what cron refuses', () => {
  const ok = 'SHELL=/bin/sh\n*/5 * * * * root true\n';
  assert.is(parseSystemCrontab('x', ok, 0o644).jobs.length, 1);
  for (const [n, t, m] of [
    ['a.b', ok, 0o644],
    ['x', ok, 0o664],
    ['x', ok, 0o755],
    ['x', '*/5 * * * * root true', 0o644],
    ['x', '60 * * * * root true\n', 0o644],
    ['x', '* 24 * * * root true\n', 0o644],
    ['x', '* * 0 * * root true\n', 0o644],
    ['x', '* * * 13 * root true\n', 0o644],
    ['x', '* * * * 8 root true\n', 0o644],
    ['x', '*/0 * * * * root true\n', 0o644],
    ['x', '5-1 * * * * root true\n', 0o644],
    ['x', '* * * * * true\n', 0o644],
    ['x', '* * * * * root date +%s\n', 0o644],
    ['x', '*/5 * * * root true\n', 0o644],
  ] as [string, string, number][]) {
    assert.throws(() => parseSystemCrontab(n, t, m), undefined, `${n} ${JSON.stringify(t)} ${m.toString(8)}`);
  }
});

for (const shell of SHELLS) {
  test(`${shell.join(' ')}: the cron files are valid system crontabs, as root, with SHELL/PATH`, () => {
    const s = scratch();
    try {
      assert.is(runStep(shell, s).status, 0);
      const d = join(s.root, 'etc/cron.d');
      assert.equal(readdirSync(d).sort(), ['wwrunscript', 'wwupdatefiles']);
      for (const n of readdirSync(d)) {
        const p = join(d, n);
        const c = parseSystemCrontab(n, read(p), statSync(p).mode & 0o7777);
        assert.is(c.env.SHELL, '/bin/sh');
        assert.ok(c.env.PATH.split(':').includes('/bin'));
        assert.is(c.jobs.length, 1);
        assert.equal(c.jobs[0].time, ['*/5', '*', '*', '*', '*']);
        assert.is(c.jobs[0].user, 'root');
        // the command must be valid sh
        const syn = spawnSync(shell[0], [...shell.slice(1), '-n', '-c', c.jobs[0].command]);
        assert.is(syn.status, 0, `${n}: ${syn.stderr}`);
      }
    } finally {
      s.cleanup();
    }
  });
}

test('schedule and splay are configurable; invalid values fall back to the defaults', () => {
  const s = scratch();
  try {
    assert.is(runStep(SHELLS[0], s, { WWRUNTIME_SCHEDULE: '1,31 2-4 * * 1-5', WWGETFILES_INTERVAL: '60' }).status, 0);
    let t = read(join(s.root, 'etc/cron.d/wwupdatefiles'));
    assert.match(t, /^1,31 2-4 \* \* 1-5 root .*WWGETFILES_INTERVAL=60 /m);
    parseSystemCrontab('wwupdatefiles', t, 0o644);
    const r = runStep(SHELLS[0], s, { WWRUNTIME_SCHEDULE: '* * * *; rm -rf /', WWGETFILES_INTERVAL: '1e3' });
    assert.is(r.status, 0);
    assert.match(r.stderr, /invalid|needs 5 fields/);
    t = read(join(s.root, 'etc/cron.d/wwupdatefiles'));
    assert.match(t, /^\*\/5 \* \* \* \* root .*WWGETFILES_INTERVAL=180 /m);
    // The run bound: 280 s after the tick by default, configurable, and a bad value falls back.
    assert.match(t, /wwgetfiles --max-run 280 /);
    assert.is(runStep(SHELLS[0], s, { WWRUNTIME_MAX_RUN: '50' }).status, 0);
    assert.match(read(join(s.root, 'etc/cron.d/wwupdatefiles')), /wwgetfiles --max-run 50 /);
    assert.match(read(join(s.root, 'etc/cron.d/wwrunscript')), /wwgetscript runtime --max-run 50 /);
    const bad = runStep(SHELLS[0], s, { WWRUNTIME_MAX_RUN: '5m' });
    assert.match(bad.stderr, /WWRUNTIME_MAX_RUN='5m' is not a whole number of seconds in 1\.\.86400, using 280/);
    assert.match(read(join(s.root, 'etc/cron.d/wwupdatefiles')), /wwgetfiles --max-run 280 /);
    const late = runStep(SHELLS[0], s, { WWRUNTIME_MAX_RUN: '100', WWGETFILES_INTERVAL: '120' });
    assert.match(late.stderr, /WWGETFILES_INTERVAL=120 is not below WWRUNTIME_MAX_RUN=100/);
  } finally {
    s.cleanup();
  }
});

const hasAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;

for (const shell of SHELLS) {
  test(`${shell.join(' ')}: systemd units pass systemd-analyze verify`, () => {
    if (!hasAnalyze) {
      console.log('  (systemd-analyze not installed: skipped)');
      return;
    }
    const s = scratch();
    try {
      mkdirSync(join(s.root, 'lib/systemd'), { recursive: true });
      writeFileSync(join(s.root, 'lib/systemd/systemd'), '');
      assert.is(runStep(shell, s, { WWRUNTIME_ONCALENDAR: '*:0/10', WWGETFILES_INTERVAL: '30' }).status, 0);
      const u = join(s.root, 'etc/systemd/system');
      const units = ['wwupdatefiles.service', 'wwupdatefiles.timer', 'wwrunscript.service', 'wwrunscript.timer'].map((n) => join(u, n));
      assert.match(read(units[1]), /^OnCalendar=\*:0\/10$/m);
      assert.match(read(units[1]), /^RandomizedDelaySec=30$/m);
      assert.match(read(units[0]), /wwgetfiles --max-run 250 /, "the 280 s bound less the timer's 30 s delay");
      // Verified in place, without --root (which would also need sysinit.target etc. inside the
      // scratch root): ExecStart is /bin/sh, which exists on the host as on the node.
      const r = spawnSync('systemd-analyze', ['verify', '--man=no', ...units], {
        encoding: 'utf8',
        env: { ...process.env, SYSTEMD_LOG_LEVEL: 'notice' },
      });
      const ours = r.stderr.split('\n').filter((l) => /wwupdatefiles|wwrunscript|ignoring|Unknown/i.test(l));
      assert.is(r.status, 0, r.stderr);
      assert.equal(ours, [], r.stderr);
      // the same verifier does catch a broken unit
      writeFileSync(join(s.dir, 'broken.timer'), read(units[1]).replace(/^OnCalendar=.*$/m, 'OnCalendar=*:0/5x'));
      const b = spawnSync('systemd-analyze', ['verify', '--man=no', join(s.dir, 'broken.timer')], { encoding: 'utf8' });
      assert.is.not(b.status, 0);
    } finally {
      s.cleanup();
    }
  });
}

test.run();
