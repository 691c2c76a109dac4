// wwruntime-fleet end to end: a real Apache (Debian's apache2, started by the storm rig's helper
// on a free loopback port, its /WW proxied to the test master) logs the requests of real runs of
// the BUILT tools for five nodes: one healthy, one that stopped polling (its lines only in the
// rotated, gzip-compressed log), one whose file contents fail with HTTP 500, one unknown to the
// master (404), one that boot-loops. The BUILT multi-call executable, through a symlink named
// wwruntime-fleet and as `wwruntime fleet`, reports them, with node names from a fake wwsh on the
// PATH printing `wwsh node print`'s format, and writes a textfile that promtool accepts and a real
// prometheus-node-exporter serves.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { rotateAccessLog, startProxyApache, type Apache } from '../../bench/storm/apache.ts';
import { Procs } from '../../bench/storm/procs.ts';
import { freePort } from '../../bench/storm/storm.ts';
import { sampleFixture, type NodeFixture } from '../helpers/master/fixtures.ts';
import { startMaster, type RunningMaster } from '../helpers/master/server.ts';
import { DIST, bin, run, type RunResult } from '../helpers/exec.ts';

if (process.getuid?.() !== 0) throw new Error('the fleet end-to-end test runs as root (Apache switches to www-data)');

const base = fs.mkdtempSync(join(tmpdir(), 'wwstorm-fleet-'));
fs.chmodSync(base, 0o755);
const procs = new Procs(base);
const HW = { ok: '02:00:00:00:00:01', stopped: '02:00:00:00:00:02', failing: '02:00:00:00:00:03', loop: '02:00:00:00:00:04' };
const UNKNOWN = '02:00:00:00:00:99';
const NAMES: Record<string, string> = { [HW.ok]: 'n0001', [HW.stopped]: 'n0002', [HW.failing]: 'n0003', [HW.loop]: 'n0004' };
const sample = sampleFixture();
const fixture = {
  ...sample,
  nodes: Object.values(HW).map((hwaddr): NodeFixture => ({ ...sample.nodes[0], hwaddr, name: NAMES[hwaddr], ips: undefined })),
};

let master: RunningMaster;
let apache: Apache;
let fleetLink: string;
let fakeBin: string;
const sysroot = join(base, 'sysroot');
fs.mkdirSync(sysroot);

test.before(async () => {
  master = await startMaster(fixture, {
    // node 3's file contents: a real HTTP 500 (PROTOCOL 2.8: a child without a database connection)
    fault: (q) => (q.query.hwaddr === HW.failing && q.query.fileid ? { kind: 'status', status: 500 } : undefined),
  });
  apache = await startProxyApache(procs, join(base, 'apache'), { port: await freePort(), backend: `http://${master.address}` });
  // The package's /usr/bin/wwruntime-fleet: a symlink to the runtime folder's launcher.
  fs.mkdirSync(join(base, 'usr/bin'), { recursive: true });
  fleetLink = join(base, 'usr/bin/wwruntime-fleet');
  fs.symlinkSync(relative(join(base, 'usr/bin'), join(DIST, 'wwruntime')), fleetLink); // relative, as the package links it
  fakeBin = join(base, 'fakebin');
  fs.mkdirSync(fakeBin);
  const print = Object.entries(NAMES)
    .map(
      ([hw, name]) =>
        `#### ${name} ${'#'.repeat(72 - name.length)}#\n${name.padStart(15)}: ${'NAME'.padEnd(16)} = ${name}\n${name.padStart(15)}: ${'eth0.HWADDR'.padEnd(16)} = ${hw}\n${name.padStart(15)}: ${'eth0.IPADDR'.padEnd(16)} = 10.0.1.${hw.slice(-1)}\n`,
    )
    .join('');
  fs.writeFileSync(join(fakeBin, 'wwsh'), `#!/bin/sh\n[ "$1 $2" = "node print" ] || exit 9\ncat <<'EOF'\n${print}EOF\n`);
  fs.chmodSync(join(fakeBin, 'wwsh'), 0o755);
});

test.after(async () => {
  procs.killAllSync();
  await master?.stop();
});

const node = (hwaddr: string) => ({ WWMASTER: `127.0.0.1:${apache.port}`, WWINIT_HWADDR: hwaddr });
const roots: Record<string, string> = {};
const rootOf = (hw: string) => {
  roots[hw] ??= fs.mkdtempSync(join(base, 'root-'));
  return roots[hw];
};
const tool = (name: string, hw: string, args: string[] = []) =>
  run(bin(name), ['--sysroot', sysroot, '--attempts', '1', '--max-wait', '0', ...args], { env: node(hw), timeoutMs: 30_000 });
const wwgetfiles = (hw: string, args: string[] = []) =>
  tool('wwgetfiles', hw, ['--no-delay', '--root', rootOf(hw), '--object-attempts', '1', ...args]);
const expect = (r: RunResult, code: number, what: string) => assert.is(r.code, code, `${what}: ${r.stderr}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let report: RunResult;
let json: RunResult;
let logs: string[];
let staleS = 0;
const textfile = () => join(base, 'textfile', 'wwruntime_fleet.prom');

test('real runs through a real Apache; the report names the stopped, failing and boot-looping nodes', async () => {
  const t0 = Date.now();
  // Phase 1: every node but the unknown one starts; the stopped node never comes back.
  expect(await wwgetfiles(HW.stopped), 0, 'stopped node, its only run');
  expect(await wwgetfiles(HW.ok), 0, 'healthy node, first run');
  for (let i = 0; i < 3; i++) {
    const target = fs.mkdtempSync(join(base, 'vnfs-'));
    expect(await tool('wwgetvnfs', HW.loop, ['--target', target]), 0, `boot-looping node, boot ${i + 1}`);
  }
  // logrotate: access.log -> access.log.1 (Apache reopens), then compressed.
  const rotated = join(apache.dir, 'access.log.1');
  await rotateAccessLog(apache, rotated);
  fs.writeFileSync(`${rotated}.gz`, gzipSync(fs.readFileSync(rotated)));
  fs.rmSync(rotated);
  // Phase 2 starts 12 s after the stopped node's run; the stale limit is phase 2's length + 3 s, so
  // the stopped node's list request is always older than it, every other node's always younger.
  await sleep(Math.max(0, t0 + 12_000 - Date.now()));
  const t2 = Date.now();
  // Phase 2, at once: the failing node (500s), the unknown node (404s), the booted node's poll, the healthy node.
  const [failing, unknownConfig, unknownScript, loopFiles] = await Promise.all([
    wwgetfiles(HW.failing),
    tool('wwgetnodeconfig', UNKNOWN),
    tool('wwgetscript', UNKNOWN, ['runtime']),
    wwgetfiles(HW.loop),
    (async () => {
      expect(await tool('wwgetnodeconfig', HW.ok), 0, 'healthy node, nodeconfig');
      expect(await tool('wwgetscript', HW.ok, ['runtime']), 0, 'healthy node, runtime script');
      expect(await wwgetfiles(HW.ok), 0, 'healthy node, second run');
    })(),
  ]);
  expect(failing, 2, 'failing node');
  assert.match(failing.stderr, /500/);
  expect(unknownConfig, 2, 'unknown node, nodeconfig');
  expect(unknownScript, 2, 'unknown node, script');
  expect(loopFiles, 0, 'boot-looping node, its poll');
  const now = Date.now() / 1000;
  staleS = Math.ceil(now - t2 / 1000) + 3;
  // Bad input beside the real lines: a foreign format, garbage, a half-written last line.
  const foreign = join(base, 'error_log');
  fs.writeFileSync(foreign, '[Wed Dec 02 01:00:00.123456 2026] [mpm_prefork:notice] [pid 42] AH00163: Apache/2.4 configured\n');
  fs.appendFileSync(apache.accessLog, 'garbage\n127.0.0.1 - - [02/Dec/2026:01:0');
  logs = [apache.accessLog, `${rotated}.gz`, foreign];
  const args = ['--now', `@${now.toFixed(3)}`, '--interval', `${staleS}s`, '--stale', '1', '--textfile', textfile(), ...logs];
  fs.mkdirSync(join(base, 'textfile'));
  report = await run(fleetLink, args, { env: { PATH: `${fakeBin}:/usr/bin:/bin` } });
  json = await run(join(DIST, 'wwruntime'), ['fleet', '--json', ...args], { env: { PATH: `${fakeBin}:/usr/bin:/bin` } });
  assert.ok(Date.now() - t0 < 45_000, `the scenario took ${(Date.now() - t0) / 1000} s`);

  console.log(report.stdout); // the report itself, in the test's log
  assert.is(report.code, 2, `CRITICAL: a node is stale\n${report.stdout}${report.stderr}`);
  assert.match(report.stderr, /error_log: none of its 1 lines is an access log line/);
  const lines = report.stdout.trimEnd().split('\n');
  assert.match(
    lines[0],
    new RegExp(
      String.raw`^FLEET CRITICAL: 5 nodes, 1 stale, 2 failing, 1 boot-looping, 1 ok; window 24h, stale after ${staleS}s without a file list request; \d+ lines in 3 files, 3 skipped \(2 not access log lines, 1 half-written\) \| nodes=5 ok=1 stale=1 failing=2 boot_loop=1 `,
    ),
  );
  const row = (hw: string) => lines.find((l) => l.startsWith(`${hw} `)) ?? '';
  assert.match(row(HW.stopped), /^\S+ +n0002 +127\.0\.0\.1 +stale +(1[2-9]|[2-5]\d)s .*no file list request for/);
  assert.match(row(HW.failing), / n0003 .* failing .*!500 .*newest content answer 500; errors 500x\d+/);
  assert.match(row(UNKNOWN), / - +127\.0\.0\.1 +failing .*newest script answer 404; newest nodeconfig answer 404; errors 404x2/);
  assert.match(row(HW.loop), / n0004 .* boot-loop .*3 VNFS requests in the window/);
  assert.match(row(HW.ok), / n0001 .* ok .* 1700000900 +0$/);
  assert.equal(
    lines.slice(2).map((l) => l.split(/ +/)[3]),
    ['stale', 'failing', 'failing', 'boot-loop', 'ok'],
    'problems first',
  );
});

test('--json through `wwruntime fleet`: the same report, exact values', () => {
  assert.is(json.code, 2, json.stderr);
  const r = JSON.parse(json.stdout);
  const by = Object.fromEntries(r.nodes.map((n: { hwaddr: string }) => [n.hwaddr, n]));
  assert.equal(Object.keys(by).sort(), [...Object.values(HW), UNKNOWN].sort());
  const ok = by[HW.ok];
  assert.is(ok.name, 'n0001');
  assert.is(ok.mark, 1700000900, "the healthy node's second list request reported its mark");
  for (const e of ['list', 'content', 'script', 'nodeconfig']) assert.is(ok.contacts[e]?.status, 200, e);
  assert.is(ok.contacts.vnfs, null);
  assert.is(by[HW.stopped].mark, 0, 'the stopped node asked once, with no mark yet');
  assert.ok(r.now - by[HW.stopped].contacts.list.at >= 12, 'its lines came from the rotated, compressed log');
  assert.ok(by[HW.failing].errorsByStatus['500'] >= 1, JSON.stringify(by[HW.failing].errorsByStatus));
  assert.equal(by[HW.failing].failing, ['content']);
  assert.is(by[UNKNOWN].name, null);
  assert.is(by[HW.loop].boots, 3);
  assert.is(by[HW.loop].bootLoop, true);
  assert.equal(by[HW.loop].addresses, ['127.0.0.1']);
  assert.is(r.files.gzip, 1);
  assert.is(r.lines.partial, 1);
  assert.is(r.lines.garbage, 2);
  assert.ok(r.lines.other >= 3, 'the VNFS cache requests are counted, not nodes');
});

test('the textfile: promtool accepts it; the stale node is 1', () => {
  const prom = fs.readFileSync(textfile(), 'utf8');
  const check = spawnSync('promtool', ['check', 'metrics'], { input: prom, encoding: 'utf8' });
  assert.is(check.status, 0, `${check.stdout}${check.stderr}`);
  assert.match(prom, new RegExp(`\\nwwruntime_fleet_node_stale\\{hwaddr="${HW.stopped}",name="n0002",address="127.0.0.1"\\} 1\\n`));
  assert.match(prom, new RegExp(`\\nwwruntime_fleet_node_stale\\{hwaddr="${HW.ok}",name="n0001",address="127.0.0.1"\\} 0\\n`));
  assert.match(prom, /\nwwruntime_fleet_nodes\{state="boot-loop"\} 1\n/);
  assert.equal(fs.readdirSync(join(base, 'textfile')), ['wwruntime_fleet.prom']);
});

test("the master's own node_exporter (textfile collector) serves the metrics", async () => {
  const port = await freePort();
  const exporter = procs.spawn(
    'node_exporter',
    '/usr/bin/prometheus-node-exporter',
    [
      '--collector.disable-defaults',
      '--collector.textfile',
      `--collector.textfile.directory=${join(base, 'textfile')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: 'ignore' },
  );
  let metrics = '';
  const until = Date.now() + 15_000;
  while (!metrics && Date.now() < until) {
    metrics = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(2000) })
      .then((r) => (r.ok ? r.text() : ''))
      .catch(() => '');
    if (!metrics) await sleep(100);
  }
  await procs.stop(exporter, 5000);
  assert.ok(metrics, 'node_exporter answered within 15 s');
  assert.match(metrics, /\nnode_textfile_scrape_error 0\n/);
  assert.match(metrics, new RegExp(`\\nwwruntime_fleet_node_stale\\{address="127.0.0.1",hwaddr="${HW.stopped}",name="n0002"\\} 1\\n`));
  assert.match(metrics, /\nwwruntime_fleet_nodes\{state="failing"\} 2\n/);
});

test('a stale limit longer than the scenario: WARNING (exit 1); no wwsh on the PATH: no names, no complaint', async () => {
  const r = await run(fleetLink, ['--interval', '1m', ...logs], { env: { PATH: '/usr/bin:/bin' } });
  assert.is(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /^FLEET WARNING: 5 nodes, 0 stale, 2 failing, 1 boot-looping, 2 ok;/);
  assert.not.match(r.stderr, /wwsh/);
  assert.not.match(r.stdout, /n0001/);
});

test('bad input: an unreadable log or textfile, a bad option: one line, exit 3 (UNKNOWN), nothing on stdout', async () => {
  const cases: [string[], RegExp][] = [
    [[join(base, 'missing_log')], /^wwruntime-fleet: ERROR: cannot read .*missing_log: ENOENT/],
    [[base], /^wwruntime-fleet: ERROR: cannot read .*: .*not a regular file/],
    [['--textfile', join(base, 'nope/x.prom'), apache.accessLog], /^wwruntime-fleet: ERROR: cannot write the textfile .*nope\/x\.prom: /],
    [['--stale', '0', apache.accessLog], /^wwruntime-fleet: ERROR: --stale takes a whole number in 1\.\.1000, not '0'/],
    [['--since', 'last week', apache.accessLog], /^wwruntime-fleet: ERROR: --since takes a duration/],
  ];
  for (const [args, msg] of cases) {
    const r = await run(fleetLink, ['--no-names', ...args]);
    assert.is(r.code, 3, `${args.join(' ')}: ${r.stderr}`);
    assert.is(r.stdout, '', args.join(' '));
    assert.is(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, msg);
  }
});

test.run();
