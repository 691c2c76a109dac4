// The fleet report's core (src/core/fleet): access log lines as Apache writes them, the node
// requests in them, the tally and its verdicts, the streaming reader (plain, gzip, cut, huge
// lines), the Prometheus textfile (checked by promtool) and the names from `wwsh node print`.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { parseAccessLine, parseLogTime } from '../../src/core/fleet/accesslog.ts';
import { nodeRequest } from '../../src/core/fleet/endpoints.ts';
import { MAX_LINE, defaultLogPaths, readLogLines } from '../../src/core/fleet/logfiles.ts';
import { renderText, summaryLine } from '../../src/core/fleet/render.ts';
import { FleetTally, type FleetThresholds } from '../../src/core/fleet/report.ts';
import { renderTextfile, writeTextfile } from '../../src/core/fleet/textfile.ts';
import { parseNodePrint, wwshNodeNames } from '../../src/core/fleet/wwsh.ts';
import { parseDuration, parseTime } from '../../src/tools/fleet.ts';

/** Every folder a test makes, removed at the end. */
const made: string[] = [];
const tempDir = (prefix: string) => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  made.push(d);
  return d;
};
const dir = tempDir('fleet-unit-');
test.after(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});
const T0 = Date.UTC(2026, 11, 2, 1, 0, 0) / 1000; // 02/Dec/2026:01:00:00 +0000

/** A combined-format line as Apache writes it, `s` seconds after T0. */
function line(s: number, query: string, o: { status?: number; path?: string; address?: string } = {}): string {
  const d = new Date((T0 + s) * 1000);
  const p2 = (n: number) => String(n).padStart(2, '0');
  const when = `${p2(d.getUTCDate())}/Dec/2026:${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} +0000`;
  return `${o.address ?? '10.0.1.1'} - - [${when}] "GET ${o.path ?? '/WW/file'}?${query} HTTP/1.1" ${o.status ?? 200} 512 "-" "wwruntime/0.1.0"`;
}

const OPTS = (extra: Partial<FleetThresholds> = {}): FleetThresholds => ({
  interval: 300,
  staleIntervals: 3,
  bootLoop: { count: 3, window: 3600 },
  ...extra,
});

test('combined, common and vhost_combined lines; time zones; escaped quotes in the request', () => {
  const combined = parseAccessLine(
    '10.0.1.5 - - [02/Dec/2026:01:05:09 +0000] "GET /WW/file?hwaddr=00:11:22:33:44:55&timestamp=1700000900 HTTP/1.1" 200 1234 "-" "curl/7.29.0"',
  );
  assert.equal(combined, {
    at: T0 + 309,
    address: '10.0.1.5',
    method: 'GET',
    path: '/WW/file',
    query: 'hwaddr=00:11:22:33:44:55&timestamp=1700000900',
    status: 200,
  });
  const common = parseAccessLine('n0001 - - [02/Dec/2026:02:05:09 +0100] "GET /WW/vnfs?hwaddr=aa HTTP/1.0" 302 -');
  assert.is(common?.at, T0 + 309, '+0100 is an hour ahead of UTC');
  assert.is(common?.address, 'n0001');
  assert.is(common?.status, 302);
  const vhost = parseAccessLine(
    'master:80 10.0.1.6 - - [01/Dec/2026:20:05:09 -0500] "GET /WW/script?hwaddr=aa&type=runtime HTTP/1.1" 404 210 "-" "x"',
  );
  assert.is(vhost?.address, '10.0.1.6');
  assert.is(vhost?.at, T0 + 309);
  assert.is(vhost?.path, '/WW/script');
  const quoted = parseAccessLine('10.0.1.7 - - [02/Dec/2026:01:00:00 +0000] "GET /a\\"b HTTP/1.1" 400 226 "-" "-"');
  assert.is(quoted?.status, 400, 'an escaped quote does not end the request');
  const unread = parseAccessLine('10.0.1.8 - - [02/Dec/2026:01:00:00 +0000] "-" 408 - "-" "-"');
  assert.is(unread?.status, 408);
  assert.is(unread?.path, '');
});

test('not access log lines: garbage, error_log lines, a cut line, impossible dates', () => {
  for (const bad of [
    '',
    'garbage',
    '[Wed Dec 02 01:00:00.123456 2026] [core:error] [pid 42] AH00037: Symbolic link not allowed',
    '10.0.1.1 - - [02/Dec/2026:01:00:00 +0000] "GET /WW/fi',
    '10.0.1.1 - - [02/Dec/2026:01:00:00 +0000] "GET /WW/file HTTP/1.1" 2000 1',
    '10.0.1.1 - - [31/Feb/2026:01:00:00 +0000] "GET /WW/file HTTP/1.1" 200 1',
    '10.0.1.1 - - [02/Dek/2026:01:00:00 +0000] "GET /WW/file HTTP/1.1" 200 1',
    '10.0.1.1 - - [02/Dec/2026:25:00:00 +0000] "GET /WW/file HTTP/1.1" 200 1',
    'a b c d e [02/Dec/2026:01:00:00 +0000] "GET /WW/file HTTP/1.1" 200 1',
    '{"time":"2026-12-02T01:00:00Z","request":"GET /WW/file"}',
  ])
    assert.is(parseAccessLine(bad), undefined, bad);
  assert.is(parseLogTime('[29/Feb/2028:00:00:00 +0000]'), Date.UTC(2028, 1, 29) / 1000, 'a leap day is a day');
});

test('node requests: list (fileid empty or 0 too) with its mark, content, script, nodeconfig, vnfs; others are not', () => {
  const r = (path: string, query: string, method = 'GET') => nodeRequest({ at: 0, address: 'a', method, path, query, status: 200 });
  assert.equal(r('/WW/file', 'hwaddr=00%3A11%3A22%3A33%3A44%3A55&timestamp=1700000900'), {
    hwaddr: '00:11:22:33:44:55',
    endpoint: 'list',
    mark: 1700000900,
  });
  assert.equal(r('/WW/file', 'hwaddr=aa'), { hwaddr: 'aa', endpoint: 'list', mark: 0 });
  assert.equal(r('/WW/file', 'hwaddr=aa&fileid=0&timestamp=5'), { hwaddr: 'aa', endpoint: 'list', mark: 5 });
  assert.equal(r('/WW/file', 'hwaddr=aa&timestamp=x'), { hwaddr: 'aa', endpoint: 'list', mark: 0 });
  assert.equal(r('/WW/file', 'fileid=12&hwaddr=aa'), { hwaddr: 'aa', endpoint: 'content' });
  assert.equal(r('//WW/script/', 'hwaddr=aa&type=runtime'), { hwaddr: 'aa', endpoint: 'script' });
  assert.equal(r('/WW/nodeconfig', 'hwaddr=aa'), { hwaddr: 'aa', endpoint: 'nodeconfig' });
  assert.equal(r('/WW/vnfs', 'hwaddr=aa'), { hwaddr: 'aa', endpoint: 'vnfs' });
  assert.is(r('/WW/vnfs_cache/sample/image.0123', ''), undefined, 'the cache request carries no hwaddr');
  assert.is(r('/WW/file', 'hwaddr=aa;rm%20-rf'), undefined, 'the master refuses such an hwaddr');
  assert.is(r('/WW/file', 'timestamp=1'), undefined);
  assert.is(r('/WW/file', 'hwaddr=aa', 'POST'), undefined);
  assert.is(r('/index.html', 'hwaddr=aa'), undefined);
});

test('the tally: last contact per endpoint and the mark from the newest lines whatever their order; errors in the window', () => {
  const t = new FleetTally({ now: T0 + 1000, since: T0 + 100 });
  // newest first, as when access_log is given before access_log.1
  t.addLine(line(900, 'hwaddr=aa&timestamp=1700000900'));
  t.addLine(line(901, 'hwaddr=aa&fileid=4', { status: 500 }));
  t.addLine(line(50, 'hwaddr=aa&timestamp=1700000100', { address: '10.0.9.9' }));
  t.addLine(line(60, 'hwaddr=aa&fileid=4', { status: 404 })); // before the window
  t.addLine(line(920, 'hwaddr=aa&fileid=4'));
  t.addLine(line(1500, 'hwaddr=aa&timestamp=1700009999')); // after --now
  const r = t.report(OPTS());
  const [n] = r.nodes;
  assert.is(r.nodes.length, 1);
  assert.equal(n.contacts.list, { at: T0 + 900, status: 200 });
  assert.equal(n.contacts.content, { at: T0 + 920, status: 200 });
  assert.is(n.contacts.vnfs, null);
  assert.is(n.mark, 1700000900, "the newest list request's mark, not the largest or the last read");
  assert.is(n.address, '10.0.1.1');
  assert.equal(n.addresses.sort(), ['10.0.1.1', '10.0.9.9']);
  assert.is(n.errors, 1, 'the 404 is before the window');
  assert.equal(n.errorsByStatus, { 500: 1 });
  assert.equal(n.failing, [], 'its newest content answer is a 200');
  assert.is(n.state, 'ok');
  assert.is(r.lines.later, 1);
  assert.is(r.status, 'OK');
  assert.is(r.exitCode, 0);
});

test('stale, failing and boot-loop nodes; the fleet state and exit code follow the worst', () => {
  const now = T0 + 3600;
  const t = new FleetTally({ now, since: now - 86400 });
  t.addLine(line(3500, 'hwaddr=ok&timestamp=1')); // 100 s ago
  t.addLine(line(3600 - 901, 'hwaddr=stale&timestamp=1')); // 901 s ago: > 3 x 300
  t.addLine(line(3600 - 899, 'hwaddr=justok&timestamp=1')); // 899 s ago
  t.addLine(line(3500, 'hwaddr=fail', { path: '/WW/nodeconfig', status: 404 }));
  t.addLine(line(3500, 'hwaddr=fail&timestamp=0', { status: 200 }));
  for (const s of [100, 1300, 2500]) t.addLine(line(s, 'hwaddr=loop', { path: '/WW/vnfs', status: 302 }));
  t.addLine(line(1250, 'hwaddr=twice', { path: '/WW/vnfs', status: 503 })); // a busy answer is no boot
  for (const s of [100, 1300]) t.addLine(line(s, 'hwaddr=twice', { path: '/WW/vnfs', status: 302 }));
  for (const s of [3400, 3500]) t.addLine(line(s, `hwaddr=${s === 3400 ? 'loop' : 'twice'}&timestamp=1`));
  t.addLine(line(3550, 'hwaddr=bootonly', { path: '/WW/nodeconfig' })); // never listed, first seen 50 s ago
  t.addLine(line(100, 'hwaddr=neverlisted', { path: '/WW/nodeconfig' })); // never listed, first seen an hour ago
  const r = t.report(OPTS());
  const by = Object.fromEntries(r.nodes.map((n) => [n.hwaddr, n]));
  assert.is(by.ok.state, 'ok');
  assert.is(by.stale.state, 'stale');
  assert.is(by.justok.state, 'ok');
  assert.is(by.fail.state, 'failing');
  assert.equal(by.fail.failing, ['nodeconfig']);
  assert.is(by.loop.state, 'boot-loop');
  assert.is(by.loop.boots, 3);
  assert.is(by.twice.state, 'ok');
  assert.is(by.twice.boots, 2);
  assert.is(by.bootonly.state, 'ok');
  assert.is(by.neverlisted.state, 'stale');
  assert.equal(
    r.nodes.map((n) => n.state),
    ['stale', 'stale', 'failing', 'boot-loop', 'ok', 'ok', 'ok', 'ok'],
    'problems first',
  );
  assert.equal(r.summary, { nodes: 8, ok: 4, stale: 2, failing: 1, bootLoop: 1, named: null });
  assert.is(r.status, 'CRITICAL');
  assert.is(r.exitCode, 2);
  // Without the stale ones: WARNING; a shorter boot window ends the loop.
  const calm = t.report(OPTS({ staleIntervals: 100, bootLoop: { count: 3, window: 2000 } }));
  assert.is(calm.status, 'WARNING');
  assert.is(calm.exitCode, 1);
  assert.is(calm.summary.bootLoop, 0);
  const text = renderText(r);
  assert.match(
    text.split('\n')[0],
    /^FLEET CRITICAL: 8 nodes, 2 stale, 1 failing, 1 boot-looping, 4 ok; .* \| nodes=8 ok=4 stale=2 failing=1 boot_loop=1 /,
  );
  assert.match(text, /\nstale +- +10\.0\.1\.1 +stale +15m .*no file list request for 15m/);
  assert.match(text, /\nfail .* failing .*100s!404 .*newest nodeconfig answer 404; errors 404x1/);
});

test('names from wwsh join the report by hwaddr, whatever its case', () => {
  const t = new FleetTally({ now: T0 + 10, since: T0 });
  t.addLine(line(1, 'hwaddr=00:AA:bb:cc:dd:ee&timestamp=1'));
  t.addLine(line(1, 'hwaddr=00:00:00:00:00:01&timestamp=1'));
  const r = t.report(OPTS(), new Map([['00:aa:bb:cc:dd:ee', 'n0001']]));
  assert.equal(
    r.nodes.map((n) => [n.hwaddr, n.name]),
    [
      ['00:AA:bb:cc:dd:ee', 'n0001'],
      ['00:00:00:00:00:01', null],
    ],
  );
  assert.is(r.summary.named, 1);
});

test('the reader: plain and gzip, CRLF, a half-written last line, a line too long, damaged gzip; never the whole file in memory', async () => {
  const good = [line(1, 'hwaddr=aa&timestamp=1'), line(2, 'hwaddr=bb&timestamp=1')];
  const text = `${good[0]}\r\n${'x'.repeat(MAX_LINE + 10)}\n${good[1]}\n10.0.1.1 - - [02/Dec/2026:01:00:0`;
  const plain = join(dir, 'access_log');
  writeFileSync(plain, text);
  const gz = join(dir, 'access_log.2.gz');
  writeFileSync(gz, gzipSync(text));
  for (const p of [plain, gz]) {
    const seen: string[] = [];
    const f = await readLogLines(p, (l) => seen.push(l));
    assert.equal(seen, good, p);
    assert.is(f.lines, 2);
    assert.is(f.long, 1);
    assert.is(f.partial, true);
    assert.is(f.gzip, p === gz);
    assert.is(f.damaged, undefined);
  }
  const cut = join(dir, 'access_log.3.gz');
  const whole = gzipSync(`${good.join('\n')}\n`.repeat(2000));
  writeFileSync(cut, whole.subarray(0, whole.length - 100));
  const f = await readLogLines(cut, () => {});
  assert.ok(f.damaged, 'a cut gzip file says so');
  assert.ok(f.lines > 3000 && f.lines < 4000, `${f.lines} lines before the cut`);
  // A 256 MiB "line" with no newline streams through without being buffered (the bound leaves room
  // for garbage the GC has not collected yet: buffering it would take 256 MiB and more).
  const huge = join(dir, 'huge');
  execFileSync('/bin/sh', [
    '-c',
    `head -c ${256 << 20} /dev/zero | tr '\\0' x > '${huge}'; echo >> '${huge}'; echo '${good[0]}' >> '${huge}'`,
  ]);
  const before = process.memoryUsage().rss;
  let peak = before;
  const seen: string[] = [];
  const big = await readLogLines(huge, (l) => {
    seen.push(l);
    peak = Math.max(peak, process.memoryUsage().rss);
  });
  peak = Math.max(peak, process.memoryUsage().rss);
  rmSync(huge);
  assert.equal(seen, [good[0]]);
  assert.is(big.long, 1);
  assert.ok(peak - before < 128 << 20, `RSS grew ${(peak - before) >> 20} MiB reading a 256 MiB line`);
});

test('unreadable logs: one WW_IO error naming the file', async () => {
  for (const p of [join(dir, 'missing'), dir]) {
    try {
      await readLogLines(p, () => {});
      assert.unreachable(p);
    } catch (err) {
      assert.is((err as { code?: string }).code, 'WW_IO');
      assert.match((err as Error).message, new RegExp(`^cannot read ${p}: `));
    }
  }
});

test("the default logs: EL's and Debian's live log and rotations, nothing else", () => {
  const root = tempDir('fleet-root-');
  mkdirSync(join(root, 'var/log/httpd'), { recursive: true });
  mkdirSync(join(root, 'var/log/apache2'), { recursive: true });
  for (const n of ['access_log', 'access_log.1', 'access_log-20261129.gz', 'error_log', 'ssl_access_log', 'access_log.bak'])
    writeFileSync(join(root, 'var/log/httpd', n), '');
  for (const n of ['access.log', 'access.log.1', 'access.log.2.gz', 'error.log', 'other_vhosts_access.log'])
    writeFileSync(join(root, 'var/log/apache2', n), '');
  assert.equal(
    defaultLogPaths(root).map((p) => p.slice(root.length)),
    [
      '/var/log/httpd/access_log',
      '/var/log/httpd/access_log-20261129.gz',
      '/var/log/httpd/access_log.1',
      '/var/log/apache2/access.log',
      '/var/log/apache2/access.log.1',
      '/var/log/apache2/access.log.2.gz',
    ],
  );
  assert.equal(defaultLogPaths(join(root, 'nothing')), []);
  // A folder that cannot be listed (EL's /var/log/httpd is mode 0700 root) is an error, not "no log".
  const locked = tempDir('fleet-root-');
  mkdirSync(join(locked, 'var/log'), { recursive: true });
  writeFileSync(join(locked, 'var/log/httpd'), 'not a folder');
  assert.equal(defaultLogPaths(locked), [], 'not a folder: none there');
  rmSync(join(locked, 'var/log/httpd'));
  mkdirSync(join(locked, 'var/log/httpd'), { mode: 0o700 });
  writeFileSync(join(locked, 'var/log/httpd/access_log'), '');
  const r = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      '-e',
      `import('${join(process.cwd(), 'src/core/fleet/logfiles.ts')}').then((m) => { try { m.defaultLogPaths('${locked}'); } catch (e) { console.log(e.code, e.message); } })`,
    ],
    {
      encoding: 'utf8',
      uid: 65534,
      gid: 65534,
    },
  );
  assert.match(r.stdout, new RegExp(`^WW_IO cannot list ${locked}/var/log/httpd: EACCES`), r.stderr);
});

test('the textfile passes promtool check metrics, escapes label values, and is replaced whole', () => {
  const t = new FleetTally({ now: T0 + 1000, since: T0 });
  t.addLine(line(900, 'hwaddr=aa&timestamp=1700000900'));
  t.addLine(line(901, 'hwaddr=aa&fileid=4', { status: 500 }));
  t.addLine(line(10, 'hwaddr=bb&timestamp=0', { address: 'odd"host\\name' }));
  t.addLine('garbage');
  const r = t.report(OPTS(), new Map([['aa', 'n"0001']]));
  const prom = renderTextfile(r);
  assert.match(prom, /^# HELP wwruntime_fleet_report_timestamp_seconds /);
  assert.match(prom, /\nwwruntime_fleet_node_stale\{hwaddr="bb",name="",address="odd\\"host\\\\name"\} 1\n/);
  assert.match(prom, /\nwwruntime_fleet_node_http_errors\{hwaddr="aa",name="n\\"0001",address="10.0.1.1",status="500"\} 1\n/);
  assert.match(prom, /\nwwruntime_fleet_node_mark_timestamp_seconds\{hwaddr="aa",[^}]*\} 1700000900\n/);
  assert.match(prom, /\nwwruntime_fleet_log_lines\{kind="garbage"\} 1\n/);
  const check = spawnSync('promtool', ['check', 'metrics'], { input: prom, encoding: 'utf8' });
  assert.is(check.status, 0, `${check.stdout}${check.stderr}`);
  assert.is(`${check.stdout}${check.stderr}`.trim(), '', 'no lint remarks');
  const folder = tempDir('fleet-textfile-');
  const target = join(folder, 'wwruntime_fleet.prom');
  writeFileSync(target, 'old\n');
  writeTextfile(target, prom);
  assert.is(readFileSync(target, 'utf8'), prom);
  assert.equal(readdirSync(folder), ['wwruntime_fleet.prom'], 'no temporary left beside it');
  try {
    writeTextfile(join(folder, 'no/such/folder.prom'), prom);
    assert.unreachable();
  } catch (err) {
    assert.is((err as { code?: string }).code, 'WW_IO');
    assert.match((err as Error).message, /^cannot write the textfile .*no\/such\/folder\.prom: /);
  }
});

const WWSH_PRINT = `#### n0000 #####################################################################
          n0000: ID               = 3
          n0000: NAME             = n0000
          n0000: NODENAME         = n0000
          n0000: ENABLED          = TRUE
          n0000: eth0.HWADDR      = 00:11:22:33:44:55
          n0000: eth0.IPADDR      = 10.0.1.1
          n0000: ib0.HWADDR       = UNDEF
#### a-very-long-node-name ######################################################
a-very-long-node-name: ID               = 4
a-very-long-node-name: eth0.HWADDR      = 00:11:22:33:44:66,00:11:22:33:44:77
a-very-long-node-name: eth1.HWADDR      = 00:AA:22:33:44:88
`;

test('wwsh node print: each DEV.HWADDR to its node; UNDEF and other keys ignored', () => {
  assert.equal(
    [...parseNodePrint(WWSH_PRINT).entries()],
    [
      ['00:11:22:33:44:55', 'n0000'],
      ['00:11:22:33:44:66', 'a-very-long-node-name'],
      ['00:11:22:33:44:77', 'a-very-long-node-name'],
      ['00:aa:22:33:44:88', 'a-very-long-node-name'],
    ],
  );
});

test('wwsh on the PATH is asked, with a bounded wait; missing, failing or hanging: no names and why', async () => {
  const bin = tempDir('fleet-wwsh-');
  const wwsh = join(bin, 'wwsh');
  const put = (script: string) => {
    writeFileSync(wwsh, `#!/bin/sh\n${script}\n`);
    chmodSync(wwsh, 0o755);
  };
  put(`[ "$1 $2" = "node print" ] || exit 9\ncat <<'EOF'\n${WWSH_PRINT}EOF`);
  const got = await wwshNodeNames({ PATH: `relative:${bin}:/usr/bin:/bin` });
  assert.is(got.names?.get('00:11:22:33:44:55'), 'n0000');
  assert.equal(await wwshNodeNames({ PATH: '/nonexistent' }), { names: null, why: 'wwsh is not on the PATH' });
  put('echo "ERROR: Could not connect to DB" >&2; exit 1');
  assert.equal(await wwshNodeNames({ PATH: `${bin}:relative` }), { names: null, why: 'wwsh node print exited 1' });
  put('echo "No nodes found"');
  assert.equal(await wwshNodeNames({ PATH: bin }), { names: null, why: 'wwsh node print listed no hardware address' });
  put('/bin/sleep 30 & /bin/sleep 30');
  const t = Date.now();
  const hung = await wwshNodeNames({ PATH: bin }, 500);
  assert.equal(hung, { names: null, why: 'wwsh node print did not finish within 0.5 s' });
  assert.ok(Date.now() - t < 10_000, `${Date.now() - t} ms`); // the 0.5 s bound, plus a loaded machine's slack
});

test('option grammar: durations and times', () => {
  assert.is(parseDuration('90'), 90);
  assert.is(parseDuration('15m'), 900);
  assert.is(parseDuration('1.5h'), 5400);
  assert.is(parseDuration('7d'), 7 * 86400);
  for (const bad of ['', 'm', '-5m', '5x', '0', '1e3', '0x10', '5 m']) assert.is(parseDuration(bad), undefined, bad);
  assert.is(parseTime('@1700000000'), 1700000000);
  assert.is(parseTime('2026-12-02T01:00:00Z'), T0);
  assert.is(parseTime('2026-12-02T02:00+01:00'), T0);
  for (const bad of ['yesterday', '2026-12-02', '@-1', '1700000000', '2026-13-02T01:00:00Z']) assert.is(parseTime(bad), undefined, bad);
});

test('no node request at all: UNKNOWN (exit 3), not OK', () => {
  const t = new FleetTally({ now: T0 + 10, since: T0 });
  t.addLine('garbage');
  t.addLine(line(1, '', { path: '/index.html' }));
  const r = t.report(OPTS());
  assert.is(r.status, 'UNKNOWN');
  assert.is(r.exitCode, 3);
  assert.match(summaryLine(r), /^FLEET UNKNOWN: 0 nodes, /);
});

test('the summary line counts what was skipped and why', () => {
  const t = new FleetTally({ now: T0 + 10, since: T0 });
  t.addLine(line(1, 'hwaddr=aa&timestamp=1'));
  t.addLine('garbage');
  t.addFile('x', { lines: 2, long: 1, partial: true, gzip: false });
  const s = summaryLine(t.report(OPTS()));
  assert.match(s, /; 4 lines in 1 file, 3 skipped \(1 not access log lines, 1 too long, 1 half-written\) \|/);
});

test.run();
