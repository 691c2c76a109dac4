// Issue 18: every run leaves a record, `wwruntime status` judges them as a Nagios/Icinga plugin,
// and node_exporter's textfile collector gets the metrics. The built executables against the test
// master, on a root the real boot step (busybox sh) installed the runtime services into; the
// textfile checked with promtool and scraped through a real prometheus-node-exporter.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bin, ROOT, run } from '../helpers/exec.ts';
import { deadAddress, startMaster, type RunningMaster } from '../helpers/master/server.ts';
import { sampleFixture } from '../helpers/master/fixtures.ts';
import { expectExit, nodeEnv } from '../helpers/node.ts';
import { runStep, scratch, type Scratch } from '../bootstrap/harness.ts';

const isRoot = process.getuid?.() === 0;
const RECORDS = 'var/lib/wwruntime/status';
let m: RunningMaster;
let s: Scratch;
const sysroot = mkdtempSync(join(tmpdir(), 'status-sysroot-'));

const wwgetfiles = (root: string, extra: Record<string, string> = {}, args: string[] = []) =>
  run(bin('wwgetfiles'), ['--sysroot', sysroot, '--no-delay', ...args], { env: nodeEnv(m, { NEWROOT: root, ...extra }) });
const status = (root: string, args: string[] = [], uid?: number) =>
  run(bin('wwruntime'), ['status', '--root', root, ...args], { uid, gid: uid });
const record = (root: string, tool: string) => JSON.parse(readFileSync(join(root, RECORDS, `${tool}.json`), 'utf8'));

/** A root the boot step installed the runtime services into (cron jobs, every 5 minutes), with one good run of each job. */
async function installedRoot(): Promise<string> {
  const sc = scratch();
  const step = runStep(['/bin/busybox', 'sh'], sc, { WWRUNTIME_SCHEDULER: 'cron' });
  assert.is(step.status, 0, step.stderr);
  expectExit(await wwgetfiles(sc.root), 0);
  const r = await run(bin('wwgetscript'), ['--sysroot', sc.root, 'runtime'], { env: nodeEnv(m) });
  expectExit(r, 0);
  return sc.root;
}

test.before(async () => {
  m = await startMaster(sampleFixture(), { privilegedPorts: isRoot });
  s = scratch();
});
test.after(async () => {
  await m.stop();
  s.cleanup();
});

test('each run leaves its record: the boot step, wwgetfiles, wwgetscript runtime; status OK with performance data', async () => {
  const root = await installedRoot();
  const boot = record(root, 'boot');
  assert.is(boot.state, 'finished');
  assert.is(boot.exit, 0);
  assert.is(boot.master, '10.0.0.1');
  // the step's own version, the project's (it said "unknown": the fleet could not tell old steps from new)
  assert.is(boot.version, JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
  const files = record(root, 'wwgetfiles');
  assert.equal(
    { state: files.state, exit: files.exit, master: files.master, counts: files.counts, markAfter: files.markAfter },
    {
      state: 'finished',
      exit: 0,
      master: m.address,
      counts: { listed: 10, installed: 10, unchanged: 0, failed: 0 },
      markAfter: 1700000900,
    },
  );
  assert.ok(files.end >= files.start && files.lastSuccess === files.end);
  assert.is(record(root, 'wwgetscript').exit, 0);

  const r = expectExit(await status(root), 0);
  const [summary, ...lines] = r.stdout.trimEnd().split('\n');
  assert.match(
    summary,
    /^WWRUNTIME OK - wwgetfiles last success \d+s ago; wwgetscript last success \d+s ago; wwgetvnfs no record; boot last success/,
  );
  assert.match(
    summary,
    / \| wwgetfiles_success_age=[0-9.]+s;600;1800;0 wwgetfiles_duration=[0-9.]+s;;;0 wwgetfiles_exit=0;;;0 wwgetfiles_listed=10;;;0/,
  );
  assert.is(summary.split('|').length, 2, 'one | only');
  assert.is(lines.length, 4);
  assert.match(
    lines[0],
    /^wwgetfiles: OK; last run .* exit 0, .*next run \d{4}-\d\d-\d\dT\d\d:\d[05]:00Z \(cron etc\/cron.d\/wwupdatefiles\); thresholds 10m\/30m$/,
  );

  const j = JSON.parse(expectExit(await status(root, ['--json']), 0).stdout);
  assert.is(j.state, 'OK');
  assert.is(j.installed, true);
  assert.is(j.tools.wwgetfiles.schedule.kind, 'cron');
  assert.is(j.tools.wwgetfiles.schedule.spec, '*/5 * * * *');
  assert.is(j.tools.wwgetfiles.schedule.intervalSeconds, 300);
  const next = Date.parse(j.tools.wwgetscript.schedule.next) - Date.now();
  assert.ok(next > 0 && next <= 300_000, `next run in ${next} ms`);
  assert.is(j.tools.boot.lastRun.exit, 0);
  assert.is(j.tools.wwgetfiles.counts.installed, 10);
});

test('thresholds: -w and -c (seconds, fractions allowed) give WARNING (1) and CRITICAL (2); a bad one is UNKNOWN (3)', async () => {
  const root = await installedRoot();
  await new Promise((r) => setTimeout(r, 100));
  let r = expectExit(await status(root, ['-w', '0.05', '-c', '3600']), 1);
  assert.match(r.stdout, /^WWRUNTIME WARNING - wwgetfiles WARNING last success \d+s ago, warning 0s/);
  r = expectExit(await status(root, ['-w', '0.01', '-c', '0.05']), 2);
  assert.match(r.stdout, /^WWRUNTIME CRITICAL - wwgetfiles CRITICAL /);
  assert.match(r.stdout, /wwgetfiles_success_age=[0-9.]+s;0\.01;0\.05;0/);
  r = expectExit(await status(root, ['-w', '0x10']), 3);
  assert.match(r.stderr, /--warning takes a number of seconds/);
  assert.is(r.stdout, '');
});

test('a failed run: its record keeps the error and the last success; status WARNING while the success is recent', async () => {
  const root = await installedRoot();
  const success = record(root, 'wwgetfiles').lastSuccess;
  const dead = await deadAddress();
  expectExit(await wwgetfiles(root, { WWMASTER: dead }, ['--attempts', '1']), 2);
  const f = record(root, 'wwgetfiles');
  assert.is(f.exit, 2);
  assert.match(f.error, /gave up after 1 attempt\(s\)|connection refused|ECONNREFUSED/i);
  assert.is(f.lastSuccess, success);
  assert.is(f.previous.exit, 0);
  const r = expectExit(await status(root), 1);
  assert.match(r.stdout, /^WWRUNTIME WARNING - wwgetfiles WARNING last success \d+s ago, last run failed \(exit 2: /);
});

test('a killed run leaves "started" with the run before it; status says it never finished', async () => {
  const root = await installedRoot();
  const dead = await deadAddress();
  // Backing off between rounds against a dead master: killed meanwhile.
  const child = spawn(bin('wwgetfiles'), ['--sysroot', sysroot, '--no-delay', '--attempts', '50'], {
    env: nodeEnv(m, { NEWROOT: root, WWMASTER: dead }),
    stdio: 'ignore',
  });
  const deadline = Date.now() + 20_000;
  while (record(root, 'wwgetfiles').state !== 'started' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  child.kill('SIGKILL');
  await new Promise((r) => child.once('close', r));
  const k = record(root, 'wwgetfiles');
  assert.is(k.state, 'started');
  assert.is(k.end, null);
  assert.is(k.previous.exit, 0, 'the run before it is still there');
  assert.ok(k.lastSuccess > 0);
  await new Promise((r) => setTimeout(r, 50));
  const r = expectExit(await status(root, ['-w', '0.01', '-c', '3600']), 1);
  assert.match(r.stdout, /wwgetfiles WARNING last success \d+s ago, warning 0s, started \d+s ago, never finished/);
  // Within its thresholds it is just running.
  assert.match(expectExit(await status(root), 0).stdout, /wwgetfiles last success \d+s ago, running for \d+s/);
});

test('a missing, foreign, linked, corrupt or truncated record is UNKNOWN (3) and not believed', async () => {
  const base = await installedRoot();
  const file = join(base, RECORDS, 'wwgetfiles.json');
  const good = readFileSync(file);
  const cases: [string, () => void, RegExp][] = [
    ['missing', () => rmSync(file), /wwgetfiles UNKNOWN no record of any run/],
    ['corrupt', () => writeFileSync(file, 'garbage\n'), /wwgetfiles UNKNOWN record not trusted \(not JSON \(corrupt or truncated\)\)/],
    ['truncated', () => writeFileSync(file, good.subarray(0, good.length / 2)), /record not trusted \(not JSON/],
    ['writable by others', () => chmodSync(file, 0o666), /record not trusted \(writable by group or others \(mode 0666\)\)/],
    ['link', () => (rmSync(file), symlinkSync('/etc/passwd', file)), /record not trusted \(a symbolic link\)/],
  ];
  if (isRoot) cases.push(['foreign', () => chownSync(file, 4242, 4242), /record not trusted \(owned by uid 4242, not 0\)/]);
  for (const [what, spoil, why] of cases) {
    writeFileSync(file, good);
    chmodSync(file, 0o644);
    chownSync(file, process.getuid!(), process.getgid!());
    spoil();
    const r = expectExit(await status(base), 3, what);
    assert.match(r.stdout, /^WWRUNTIME UNKNOWN - /, what);
    assert.match(r.stdout, why, what);
    assert.not.match(r.stdout, /wwgetfiles_success_age/, `${what}: nothing of it believed`);
    rmSync(file, { force: true });
  }
  // Not installed at all (an empty root), and a root that is not there.
  const empty = mkdtempSync(join(tmpdir(), 'status-empty-'));
  assert.match(expectExit(await status(empty), 3).stdout, /^WWRUNTIME UNKNOWN - runtime services not installed under /);
  assert.match(expectExit(await status(join(empty, 'nope')), 3).stdout, /^WWRUNTIME UNKNOWN - root .* is not usable/);
});

test('the boot step records its failure, under busybox sh and dash; status WARNING with its error', async () => {
  for (const shell of [['/bin/busybox', 'sh'], ['dash']]) {
    const sc = scratch();
    writeFileSync(join(sc.host, 'proc/cmdline'), 'quiet\n'); // no master anywhere
    const step = runStep(shell, sc, { WWRUNTIME_SCHEDULER: 'cron' });
    assert.is(step.status, 2, step.stderr);
    const b = record(sc.root, 'boot');
    assert.is(b.state, 'finished', shell[0]);
    assert.is(b.exit, 2, shell[0]);
    assert.is(b.error, 'Could not identify master node!', shell[0]);
    assert.is(b.lastSuccess, null);
    // The record was parsed and trusted: the problem shown is the failure, not the record.
    const r = await status(sc.root);
    assert.match(r.stdout, /boot WARNING last run failed \(exit 2: Could not identify master node!\)/, shell[0]);
    sc.cleanup();
    // The image's var a link to a folder of the host: followed inside NEWROOT, as the node will see it; the host's folder untouched.
    const hostile = scratch();
    const outside = join(hostile.dir, 'outside');
    mkdirSync(outside);
    symlinkSync(outside, join(hostile.root, 'var'));
    const h = runStep(shell, hostile, { WWRUNTIME_SCHEDULER: 'cron' });
    assert.is(h.status, 0, h.stderr);
    assert.equal(readdirSync(outside), [], `${shell[0]}: nothing written outside NEWROOT`);
    assert.is(JSON.parse(readFileSync(join(hostile.root, outside, 'lib/wwruntime/status/boot.json'), 'utf8')).exit, 0);
    hostile.cleanup();
  }
});

/** A free TCP port on 127.0.0.1. */
const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });

test('node_exporter textfile: rewritten by each run, valid for promtool, scraped by a real node_exporter', async () => {
  const root = await installedRoot();
  mkdirSync(join(root, 'srv/metrics'), { recursive: true });
  expectExit(await wwgetfiles(root, { WWRUNTIME_TEXTFILE_DIR: '/srv/metrics' }, ['-F']), 0);
  const prom = join(root, 'srv/metrics/wwruntime.prom');
  const text = readFileSync(prom, 'utf8');
  assert.match(text, /^# HELP wwruntime_record_valid /m);
  assert.match(text, /^# TYPE wwruntime_last_success_timestamp_seconds gauge$/m);
  assert.match(text, /^wwruntime_last_run_objects\{tool="wwgetfiles",outcome="unchanged"\} 10$/m);
  assert.match(text, /^wwruntime_record_valid\{tool="boot"\} 1$/m);
  assert.match(text, /^wwruntime_last_run_exit_status\{tool="wwgetscript"\} 0$/m, 'every tool, not only the one that ran');
  assert.match(text, /^wwruntime_mark_timestamp_seconds\{tool="wwgetfiles"\} 1700000900$/m);
  assert.match(text, /^wwruntime_version_info\{tool="wwgetfiles",version="[^"]+"\} 1$/m);
  const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.is(check.status, 0, check.stdout + check.stderr);
  assert.is((check.stdout + check.stderr).trim(), '', 'promtool: no lint problem');

  const port = await freePort();
  const ne = spawn(
    'prometheus-node-exporter',
    [
      `--web.listen-address=127.0.0.1:${port}`,
      `--collector.textfile.directory=${join(root, 'srv/metrics')}`,
      '--collector.disable-defaults',
      '--collector.textfile',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let neErr = '';
  ne.stderr.on('data', (d) => (neErr += d));
  try {
    let body = '';
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(2000) });
        body = await res.text();
        if (res.ok) break;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    assert.match(body, /^wwruntime_last_success_timestamp_seconds\{tool="wwgetfiles"\} [0-9.e+]+$/m, neErr);
    assert.match(body, /^wwruntime_last_run_objects\{outcome="unchanged",tool="wwgetfiles"\} 10$/m);
    assert.match(body, /^node_textfile_scrape_error 0$/m);
  } finally {
    ne.kill('SIGTERM');
    await new Promise((r) => ne.once('close', r));
  }
});

test('textfile: the default directory is used when it exists; a missing or unwritable one is one warning, the result unchanged', async () => {
  const root = await installedRoot();
  mkdirSync(join(root, 'var/lib/node_exporter/textfile_collector'), { recursive: true });
  expectExit(await wwgetfiles(root), 0);
  assert.match(readFileSync(join(root, 'var/lib/node_exporter/textfile_collector/wwruntime.prom'), 'utf8'), /wwruntime_record_valid/);

  const r = expectExit(await wwgetfiles(root, { WWRUNTIME_TEXTFILE_DIR: '/no/such/dir' }), 0);
  const warnings = r.stderr.split('\n').filter((l) => /WARNING/.test(l));
  assert.equal(warnings.length, 1, r.stderr);
  assert.match(warnings[0], /^wwgetfiles: WARNING: WWRUNTIME_TEXTFILE_DIR \/no\/such\/dir does not exist under .*: no metrics written$/);
  // A failing run stays the failure it was, with the warning beside it.
  const dead = await deadAddress();
  const f = expectExit(await wwgetfiles(root, { WWMASTER: dead, WWRUNTIME_TEXTFILE_DIR: '/no/such/dir' }, ['--attempts', '1']), 2);
  assert.match(f.stderr, /WWRUNTIME_TEXTFILE_DIR \/no\/such\/dir does not exist/);
  assert.match(f.stderr, /ERROR: /);

  if (isRoot) {
    // A user's run on its own root, the directory root's (0755): cannot write there.
    const own = mkdtempSync(join(tmpdir(), 'status-user-'));
    chmodSync(own, 0o755);
    const userRoot = join(own, 'root');
    mkdirSync(join(userRoot, 'metrics'), { recursive: true });
    chownSync(userRoot, 65534, 65534);
    const u = await run(bin('wwgetfiles'), ['--sysroot', sysroot, '--no-delay', '--source-port', 'any'], {
      env: nodeEnv(m, { NEWROOT: userRoot, WWRUNTIME_TEXTFILE_DIR: '/metrics' }),
      uid: 65534,
      gid: 65534,
    });
    // Object owners cannot be given by a user: those objects fail; the run's status is what it was without metrics.
    const w = u.stderr.split('\n').filter((l) => /textfile|metrics/.test(l));
    assert.equal(w.length, 1, u.stderr);
    assert.match(
      w[0],
      /^wwgetfiles: WARNING: cannot write .*metrics\/wwruntime.prom \(WWRUNTIME_TEXTFILE_DIR \/metrics\): .*permission denied.*; no metrics written$/i,
    );
    assert.is(record(userRoot, 'wwgetfiles').exit, u.code, "the record has the run's own status");
  }
});

test('wwgetvnfs in the initramfs records into NEWROOT; with --target it records nothing there', async () => {
  const sys = mkdtempSync(join(tmpdir(), 'status-initramfs-'));
  writeFileSync(join(sys, 'init'), '#!/bin/sh\n');
  const newroot = join(sys, 'newroot');
  mkdirSync(newroot);
  const r = await run(bin('wwgetvnfs'), ['--sysroot', sys], { env: nodeEnv(m, { NEWROOT: newroot }), timeoutMs: 120_000 });
  expectExit(r, 0);
  const v = record(newroot, 'wwgetvnfs');
  assert.is(v.exit, 0);
  assert.is(v.master, m.address);
  assert.ok(v.counts.installed > 0);
  const target = join(sys, 'staged');
  expectExit(await run(bin('wwgetvnfs'), ['--sysroot', sys, '--target', target], { env: nodeEnv(m), timeoutMs: 120_000 }), 0);
  assert.throws(() => readFileSync(join(target, RECORDS, 'wwgetvnfs.json')), /ENOENT/);
});

test.run();
