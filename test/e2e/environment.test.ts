// The runtime's own environment (issue 16.1). The tools run as root from cron, so whatever a
// careless /etc/environment, a login shell or `sudo -E` leaves in the environment reaches the
// embedded Node.js, its OpenSSL, libuv and the C library. Each variable any of them reads is set
// here, one test each, on the BUILT executables run the way a node runs them: /warewulf/bin/NAME
// (the multi-call symlinks) in a chroot that holds only the bundle, /proc and /tmp; a few also
// through the launcher on this machine. README "Environment the tools ignore" lists the verdicts.
//   ignored: the run is exactly the run without the variable (exit code, stdout, stderr);
//   refused: a certificate the variable would have let through is refused (exit 2, one line);
//   acts:    documented as still acting (what it does is asserted, so the README stays true).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import { join } from 'node:path';
import { bundleChroot, CHROOT, type Chroot } from '../helpers/chroot.ts';
import { makeCa, type TestCa } from '../helpers/certs.ts';
import { bin, ROOT, run, type RunResult } from '../helpers/exec.ts';
import { sampleFixture, type Fixture } from '../helpers/master/fixtures.ts';
import { startMaster, type RunningMaster } from '../helpers/master/server.ts';
import { HWADDR as HW } from '../helpers/node.ts';
import { EXECUTABLES } from '../../build/targets.mjs';

const SCRIPT = '#!/bin/sh\necho runtime one\necho runtime two\n';

let c: Chroot;
let m: RunningMaster; // http
let slow: RunningMaster; // http, 150 ms per answer: wwgetfiles runs long enough to count its threads
let stall: RunningMaster; // http, never answers /WW/script
let tlsA: RunningMaster; // https, certificate from CA A
let tlsB: RunningMaster; // https, certificate from CA B
let caA: TestCa;
let caB: TestCa;
let proxy: { port: number; seen: string[]; close(): void };
let nodeDirs = 0;

function fixture(): Fixture {
  const f = sampleFixture();
  // no mknod in the chroot: files, directories and links only
  f.nodes[0].fileIds = [1, 2, 3, 4, 7, 8, 9];
  return f;
}

/** A file inside the chroot (made with its folders); returns the path as the chroot sees it. */
function put(path: string, content: string | Buffer): string {
  mkdirSync(join(c.root, path, '..'), { recursive: true });
  writeFileSync(join(c.root, path), content);
  return path;
}

test.before(async () => {
  c = bundleChroot('linux-x64');
  c.mountProc();
  caA = makeCa('cluster CA A');
  caB = makeCa('some other CA B');
  m = await startMaster(fixture());
  slow = await startMaster(fixture(), { latencyMs: 150 });
  stall = await startMaster(fixture(), { fault: (r) => (r.path === '/WW/script' ? { kind: 'stall' } : undefined) });
  tlsA = await startMaster(fixture(), { tls: caA.leaf('a', 'IP:127.0.0.1') });
  tlsB = await startMaster(fixture(), { tls: caB.leaf('b', 'IP:127.0.0.1') });
  put('/ca/a.pem', caA.cert);
  put('/ca/b.pem', caB.cert);
  // what a hostile NODE_OPTIONS=--require would run as root: it leaves a mark
  put('/hostile/mark.js', "require('fs').writeFileSync('/tmp/hostile-mark', 'ran as ' + process.getuid());\n");
  // an OpenSSL configuration naming a provider module: OpenSSL would load (run) it as root
  put(
    '/hostile/openssl.cnf',
    'nodejs_conf = init\n[init]\nproviders = prov\n[prov]\nww = ww_sect\n[ww_sect]\nmodule = /hostile/provider.so\nactivate = 1\n',
  );
  put('/hostile/by-name.cnf', 'nodejs_conf = init\n[init]\nproviders = prov\n[prov]\nwwprov = ww_sect\n[ww_sect]\nactivate = 1\n');
  put('/hostile/wwprov.so', 'not a shared object\n');
  put('/hostile/icu/icudt78l.dat', Buffer.alloc(4096, 0x5a));
  put('/hostile/node_path/fs.js', "require('fs').writeFileSync('/tmp/hostile-mark', 'node_path');\n");
  mkdirSync(join(c.root, 'hostile/empty-tmp'), { recursive: true });
  const seen: string[] = [];
  const srv = net.createServer((s) => {
    s.on('error', () => {});
    s.once('data', (d) => seen.push(d.toString('latin1').split('\r\n')[0]));
    s.end('HTTP/1.1 200 OK\r\nContent-Length: 17\r\n\r\necho from proxy\n');
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  proxy = { port: (srv.address() as net.AddressInfo).port, seen, close: () => srv.close() };
});

test.after(async () => {
  proxy?.close();
  for (const s of [m, slow, stall, tlsA, tlsB]) await s?.stop();
  for (const ca of [caA, caB]) if (ca) rmSync(ca.dir, { recursive: true, force: true });
  c?.cleanup();
});

interface Run {
  tool: string;
  args: string[];
  env: Record<string, string>;
}

const script =
  (master: () => RunningMaster, ...args: string[]): (() => Run) =>
  () => ({
    tool: 'wwgetscript',
    args: [...args, 'runtime'],
    env: { WWMASTER: master().address },
  });
const plain = script(() => m);
/** https with --ca-file CA A against the master whose certificate CA B issued: must fail. */
const wrongCa = script(() => tlsB, '--https', '--ca-file', '/ca/a.pem');
/** https without --ca-file against CA B's master (a CA no system trusts): must fail. */
const noCaFile = script(() => tlsB, '--https');
const goodTls = script(() => tlsA, '--https', '--ca-file', '/ca/a.pem');
const files =
  (master: () => RunningMaster = () => m): (() => Run) =>
  () => ({
    tool: 'wwgetfiles',
    args: ['--no-delay', '--root', `/node${++nodeDirs}`],
    env: { WWMASTER: master().address },
  });

function inChroot(r: Run, extra: Record<string, string>, onSpawn?: (pid: number) => void): Promise<RunResult> {
  if (r.args[0] === '--no-delay') mkdirSync(join(c.root, r.args[2]));
  return c.run(`/warewulf/bin/${r.tool}`, r.args, { env: { WWINIT_HWADDR: HW, ...r.env, ...extra }, onSpawn, timeoutMs: 60_000 });
}

/** stderr without what differs from run to run (times, counts of seconds). */
const steady = (s: string) => s.replace(/\d+(\.\d+)? s\b/g, 'N s').replace(/\d+ request\(s\)/g, 'N request(s)');

async function sameAsWithout(make: () => Run, env: Record<string, string>, why = ''): Promise<RunResult> {
  const base = await inChroot(make(), {});
  const got = await inChroot(make(), env);
  const what = `${Object.keys(env).join(' ')}${why ? ` (${why})` : ''}`;
  assert.is(got.code, base.code, `${what}: exit ${got.code}, without it ${base.code}: ${got.stderr.slice(0, 600)}`);
  assert.is(got.stdout, base.stdout, `${what}: stdout`);
  assert.is(steady(got.stderr), steady(base.stderr), `${what}: stderr`);
  return got;
}

function markLeft(): string | undefined {
  const p = join(c.root, 'tmp/hostile-mark');
  if (!existsSync(p)) return undefined;
  const s = readFileSync(p, 'utf8');
  rmSync(p);
  return s;
}

/** The TCP ports a process listens on (its socket inodes matched against /proc/net/tcp{,6}). */
function listening(pid: number): number[] {
  let inodes: Set<string>;
  try {
    inodes = new Set(
      readdirSync(`/proc/${pid}/fd`)
        .map((fd) => {
          try {
            return /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1] ?? '';
          } catch {
            return '';
          }
        })
        .filter(Boolean),
    );
  } catch {
    return [];
  }
  const ports: number[] = [];
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(f, 'utf8').split('\n').slice(1)) {
      const col = line.trim().split(/\s+/);
      if (col[3] === '0A' && inodes.has(col[9])) ports.push(parseInt(col[1].split(':')[1], 16));
    }
  }
  return ports;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Runs wwgetscript against the stalling master (--timeout 3): does the process ever listen on a port? */
async function portsWhileWaiting(env: Record<string, string>, signal?: NodeJS.Signals): Promise<{ ports: number[]; result: RunResult }> {
  let pid = 0;
  const done = inChroot(
    { tool: 'wwgetscript', args: ['--timeout', '3', '--attempts', '1', 'runtime'], env: { WWMASTER: stall.address } },
    env,
    (p) => (pid = p),
  );
  const ports = new Set<number>();
  for (let i = 0; i < 25; i++) {
    await sleep(100);
    if (i === 5 && signal && pid) process.kill(pid, signal);
    for (const p of listening(pid)) ports.add(p);
  }
  return { ports: [...ports], result: await done };
}

/** Most threads the process had at once while it ran. */
async function peakThreads(make: () => Run, env: Record<string, string>): Promise<{ peak: number; result: RunResult }> {
  let pid = 0;
  let peak = 0;
  let running = true;
  const done = inChroot(make(), env, (p) => (pid = p)).finally(() => (running = false));
  while (running) {
    try {
      if (pid) peak = Math.max(peak, readdirSync(`/proc/${pid}/task`).length);
    } catch {
      /* gone */
    }
    await sleep(10);
  }
  return { peak, result: await done };
}

function oneErrorLine(r: RunResult, re: RegExp, what: string) {
  assert.is(r.code, 2, `${what}: exit ${r.code}, stdout ${JSON.stringify(r.stdout.slice(0, 80))}, stderr ${r.stderr.slice(0, 400)}`);
  assert.is(r.stdout, '', `${what}: nothing on stdout (a script would go to /bin/sh as root)`);
  assert.is(r.stderr.trim().split('\n').length, 1, `${what}: one line: ${r.stderr}`);
  assert.match(r.stderr, re, what);
}

const TLS_REFUSED = /^wwgetscript: ERROR: TLS handshake with 127\.0\.0\.1:\d+ failed: .*--ca-file/;

// ---------------------------------------------------------------------------------------------
// NODE_OPTIONS, and the other ways into the embedded Node.js's flags

test('NODE_OPTIONS=--require=FILE: FILE never runs; the run is the run without it', async () => {
  await sameAsWithout(plain, { NODE_OPTIONS: '--require=/hostile/mark.js' });
  assert.is(markLeft(), undefined, 'the --require module ran inside the root tool');
  await sameAsWithout(files(), { NODE_OPTIONS: '--require /hostile/mark.js --import /hostile/mark.js' }, 'wwgetfiles');
  assert.is(markLeft(), undefined);
});

test('NODE_OPTIONS=--inspect: no debugger port, no "Debugger listening"', async () => {
  const { ports, result } = await portsWhileWaiting({ NODE_OPTIONS: '--inspect=127.0.0.1:0' });
  assert.equal(ports, [], `listening on ${ports.join(', ')}`);
  assert.not.match(result.stderr, /Debugger/);
  assert.is(result.code, 2, result.stderr);
  assert.match(result.stderr, /^wwgetscript: ERROR: gave up after 1 attempt\(s\): .*no data for 3 s\n$/);
});

test('NODE_OPTIONS with an unknown flag (Node exited 9): ignored', async () => {
  await sameAsWithout(plain, { NODE_OPTIONS: '--no-such-flag-at-all' });
});

test('NODE_OPTIONS=--max-old-space-size=1 (Node died 133 with a V8 dump): ignored', async () => {
  await sameAsWithout(plain, { NODE_OPTIONS: '--max-old-space-size=1' });
});

test('--node-options=... on the command line is not a Node.js option either: a usage error', async () => {
  const r = await inChroot(
    { tool: 'wwgetscript', args: ['--node-options=--require=/hostile/mark.js', 'runtime'], env: { WWMASTER: m.address } },
    {},
  );
  assert.is(r.code, 2);
  assert.is(r.stdout, '');
  assert.match(r.stderr, /^wwgetscript: ERROR: Unknown option '--node-options'[^\n]* \(see 'wwgetscript --help'\)\n$/);
  assert.is(markLeft(), undefined);
});

test('SIGUSR1 (Node opens its inspector on 127.0.0.1:9229): ignored, no port, the run goes on', async () => {
  const { ports, result } = await portsWhileWaiting({}, 'SIGUSR1');
  assert.equal(ports, [], `listening on ${ports.join(', ')}`);
  assert.not.match(result.stderr, /Debugger/);
  assert.is(result.signal, null, 'not killed by the signal');
  assert.is(result.code, 2);
  assert.match(result.stderr, /no data for 3 s\n$/);
});

// ---------------------------------------------------------------------------------------------
// TLS: which certificates are accepted comes from --ca-file (or the bundled roots) only

test('NODE_TLS_REJECT_UNAUTHORIZED=0 with --ca-file A, a certificate from CA B: refused, exit 2, nothing for /bin/sh', async () => {
  const base = await inChroot(wrongCa(), {});
  oneErrorLine(base, TLS_REFUSED, 'without the variable');
  const r = await inChroot(wrongCa(), { NODE_TLS_REJECT_UNAUTHORIZED: '0' });
  oneErrorLine(r, TLS_REFUSED, 'NODE_TLS_REJECT_UNAUTHORIZED=0');
  assert.is(r.stderr, base.stderr);
});

test('NODE_TLS_REJECT_UNAUTHORIZED=0 without --ca-file, a certificate from an unknown CA: refused', async () => {
  oneErrorLine(await inChroot(noCaFile(), { NODE_TLS_REJECT_UNAUTHORIZED: '0' }), TLS_REFUSED, 'NODE_TLS_REJECT_UNAUTHORIZED=0');
});

test('NODE_EXTRA_CA_CERTS=CA B with --ca-file A: CA B is still not trusted', async () => {
  oneErrorLine(await inChroot(wrongCa(), { NODE_EXTRA_CA_CERTS: '/ca/b.pem' }), TLS_REFUSED, 'NODE_EXTRA_CA_CERTS');
});

test('NODE_EXTRA_CA_CERTS=CA B without --ca-file: not added to the bundled roots either', async () => {
  oneErrorLine(await inChroot(noCaFile(), { NODE_EXTRA_CA_CERTS: '/ca/b.pem' }), TLS_REFUSED, 'NODE_EXTRA_CA_CERTS');
});

test("NODE_EXTRA_CA_CERTS naming a missing file: acts only as Node's one warning line when TLS loads; the run is the same", async () => {
  const warning =
    'Warning: Ignoring extra certs from `/hostile/none.pem`, load failed: error:80000002:system library::No such file or directory\n';
  for (const make of [noCaFile, goodTls]) {
    const base = await inChroot(make(), {});
    const r = await inChroot(make(), { NODE_EXTRA_CA_CERTS: '/hostile/none.pem' });
    assert.is(r.code, base.code, r.stderr);
    assert.is(r.stdout, base.stdout);
    assert.is(steady(r.stderr), steady(warning + base.stderr));
  }
  // an http run never loads TLS: not even that line
  await sameAsWithout(plain, { NODE_EXTRA_CA_CERTS: '/hostile/none.pem' });
});

test('NODE_USE_SYSTEM_CA=1 with SSL_CERT_FILE=CA B (the "system" store): not trusted', async () => {
  oneErrorLine(
    await inChroot(noCaFile(), { NODE_USE_SYSTEM_CA: '1', SSL_CERT_FILE: '/ca/b.pem', SSL_CERT_DIR: '/ca' }),
    TLS_REFUSED,
    'NODE_USE_SYSTEM_CA',
  );
});

test('SSL_CERT_FILE / SSL_CERT_DIR naming CA B: not trusted', async () => {
  oneErrorLine(await inChroot(noCaFile(), { SSL_CERT_FILE: '/ca/b.pem', SSL_CERT_DIR: '/ca' }), TLS_REFUSED, 'SSL_CERT_FILE');
});

test('all of the TLS variables at once do not stop a good --ca-file run', async () => {
  const r = await sameAsWithout(goodTls, {
    NODE_TLS_REJECT_UNAUTHORIZED: '0',
    NODE_EXTRA_CA_CERTS: '/ca/b.pem',
    NODE_USE_SYSTEM_CA: '1',
    SSL_CERT_FILE: '/ca/b.pem',
    SSL_CERT_DIR: '/ca',
  });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout, SCRIPT);
  // and --ca-file B does trust B: the refusals above are the variables', not the master's
  const b = await inChroot(script(() => tlsB, '--https', '--ca-file', '/ca/b.pem')(), {});
  assert.is(b.code, 0, b.stderr);
});

test('NODE_REDIRECT_WARNINGS=FILE: nothing is ever written there (a root tool appending to a named file)', async () => {
  await sameAsWithout(noCaFile, {
    NODE_REDIRECT_WARNINGS: '/tmp/warnings.txt',
    NODE_TLS_REJECT_UNAUTHORIZED: '0',
    NODE_PENDING_DEPRECATION: '1',
  });
  const file = join(c.root, 'tmp/warnings.txt');
  assert.not.ok(existsSync(file), existsSync(file) ? `written: ${readFileSync(file, 'utf8')}` : '');
});

test('SSLKEYLOGFILE: no TLS secrets are written', async () => {
  await sameAsWithout(goodTls, { SSLKEYLOGFILE: '/tmp/keys.log' });
  assert.not.ok(existsSync(join(c.root, 'tmp/keys.log')));
});

// ---------------------------------------------------------------------------------------------
// OpenSSL

test('OPENSSL_CONF naming a provider module (OpenSSL would load it as root; missing: Node aborted 134): ignored', async () => {
  await sameAsWithout(plain, { OPENSSL_CONF: '/hostile/openssl.cnf' });
  await sameAsWithout(goodTls, { OPENSSL_CONF: '/hostile/openssl.cnf' }, 'https');
});

test('OPENSSL_MODULES (where a provider named in a configuration is looked for): ignored', async () => {
  await sameAsWithout(goodTls, { OPENSSL_MODULES: '/hostile', OPENSSL_CONF: '/hostile/by-name.cnf' });
});

test('OPENSSL_ia32cap (CPU features OpenSSL may use): acts only on speed, the run is the same', async () => {
  await sameAsWithout(goodTls, { OPENSSL_ia32cap: '~0x200000200000000' });
});

// ---------------------------------------------------------------------------------------------
// Node.js start-up and modules

test('NODE_UNIQUE_ID (a cluster worker; wwgetfiles ended at once with exit 0, nothing installed): ignored', async () => {
  const r = await sameAsWithout(files(), { NODE_UNIQUE_ID: '1', NODE_CLUSTER_SCHED_POLICY: 'rr' });
  assert.match(r.stderr, /7 listed, 7 installed, 0 unchanged, 0 failed/);
});

test('NODE_CHANNEL_FD from a Node.js parent with an IPC channel: the run is the same, and it ends', async () => {
  const runIpc = (env: Record<string, string>) =>
    new Promise<{ code: number | null; out: string; err: string }>((res, rej) => {
      const child = spawn(CHROOT, [c.root, '/warewulf/bin/wwgetscript', 'runtime'], {
        env: { WWINIT_HWADDR: HW, WWMASTER: m.address, ...env },
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      });
      let out = '';
      let err = '';
      child.stdout!.on('data', (d) => (out += d));
      child.stderr!.on('data', (d) => (err += d));
      const t = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.on('error', rej);
      child.on('exit', (code) => {
        clearTimeout(t);
        setTimeout(() => res({ code, out, err }), 50);
      });
    });
  const r = await runIpc({});
  assert.is(r.code, 0, r.err);
  assert.is(r.out, SCRIPT);
  assert.is(r.err, '');
});

test('NODE_PATH, NODE_PRESERVE_SYMLINKS, NODE_PRESERVE_SYMLINKS_MAIN: no module is ever loaded from disk', async () => {
  await sameAsWithout(plain, { NODE_PATH: '/hostile/node_path', NODE_PRESERVE_SYMLINKS: '1', NODE_PRESERVE_SYMLINKS_MAIN: '1' });
  assert.is(markLeft(), undefined);
});

test('NODE_ICU_DATA naming a folder with a bogus icudt78l.dat: ignored (the ICU data is built in)', async () => {
  await sameAsWithout(plain, { NODE_ICU_DATA: '/hostile/icu' });
  await sameAsWithout(files(), { NODE_ICU_DATA: '/hostile/icu' }, 'wwgetfiles');
});

test('NODE_REPL_HISTORY: no REPL, nothing written', async () => {
  await sameAsWithout(plain, { NODE_REPL_HISTORY: '/tmp/repl-history' });
  assert.not.ok(existsSync(join(c.root, 'tmp/repl-history')));
});

test('NODE_REPL_EXTERNAL_MODULE: Node.js refuses to start (exit 9, one line), the price of ignoring NODE_OPTIONS; nothing runs', async () => {
  const asked = m.requestsTo('/WW/script').length;
  const r = await inChroot(plain(), { NODE_REPL_EXTERNAL_MODULE: '/hostile/mark.js' });
  assert.is(r.code, 9, r.stderr);
  assert.is(r.stdout, '');
  assert.is(r.stderr, "/warewulf/bin/wwgetscript: NODE_REPL_EXTERNAL_MODULE can't be used with kDisableNodeOptionsEnv\n");
  assert.is(markLeft(), undefined);
  assert.is(m.requestsTo('/WW/script').length, asked, 'the master was not asked');
});

test('NODE_PENDING_DEPRECATION, NODE_NO_WARNINGS, NODE_SKIP_PLATFORM_CHECK, NODE_TEST_CONTEXT, NODE_PENDING_PIPE_INSTANCES: ignored', async () => {
  const env = {
    NODE_PENDING_DEPRECATION: '1',
    NODE_NO_WARNINGS: '1',
    NODE_SKIP_PLATFORM_CHECK: '1',
    NODE_TEST_CONTEXT: 'child',
    NODE_PENDING_PIPE_INSTANCES: '1',
  };
  await sameAsWithout(plain, env);
  await sameAsWithout(files(), env, 'wwgetfiles');
});

test('NODE_DISABLE_COMPILE_CACHE, NODE_COMPILE_CACHE_PORTABLE: ignored', async () => {
  await sameAsWithout(plain, { NODE_DISABLE_COMPILE_CACHE: '1', NODE_COMPILE_CACHE_PORTABLE: '1' });
});

test('FORCE_COLOR, NO_COLOR, NODE_DISABLE_COLORS: no colour codes anywhere', async () => {
  for (const env of [{ FORCE_COLOR: '3' }, { NO_COLOR: '1', NODE_DISABLE_COLORS: '1' }] as Record<string, string>[]) {
    const r = await sameAsWithout(noCaFile, env);
    assert.not.match(r.stderr, /\x1b\[/);
    const h = await sameAsWithout(() => ({ tool: 'wwgetfiles', args: ['--help'], env: {} }), env, '--help');
    assert.not.match(h.stdout, /\x1b\[/);
  }
});

test('HOME, TMPDIR: never used (temporary files go beside their targets)', async () => {
  const r = await sameAsWithout(files(), {
    HOME: '/hostile/none',
    TMPDIR: '/hostile/empty-tmp',
    TMP: '/hostile/empty-tmp',
    TEMP: '/hostile/empty-tmp',
  });
  assert.match(r.stderr, /7 installed/);
  assert.equal(readdirSync(join(c.root, 'hostile/empty-tmp')), []);
});

test('LANG, LC_ALL (a Turkish locale: i/I case rules): ignored', async () => {
  await sameAsWithout(plain, { LANG: 'tr_TR.UTF-8', LC_ALL: 'tr_TR.UTF-8', LC_CTYPE: 'tr_TR.UTF-8' });
  await sameAsWithout(files(), { LANG: 'tr_TR.UTF-8', LC_ALL: 'tr_TR.UTF-8' }, 'wwgetfiles');
});

test('http_proxy, HTTP_PROXY, HTTPS_PROXY, NO_PROXY with NODE_USE_ENV_PROXY=1: the master is asked directly, never a proxy', async () => {
  const p = `http://127.0.0.1:${proxy.port}`;
  await sameAsWithout(plain, {
    NODE_USE_ENV_PROXY: '1',
    HTTP_PROXY: p,
    http_proxy: p,
    HTTPS_PROXY: p,
    https_proxy: p,
    NO_PROXY: 'none',
    no_proxy: 'none',
  });
  await sameAsWithout(goodTls, { NODE_USE_ENV_PROXY: '1', HTTPS_PROXY: p, https_proxy: p }, 'https');
  assert.equal(proxy.seen, []);
});

test('HOSTALIASES, LOCALDOMAIN, RES_OPTIONS (the C library resolver): ignored', async () => {
  put('/hostile/aliases', 'master 10.255.255.1\n');
  await sameAsWithout(plain, {
    HOSTALIASES: '/hostile/aliases',
    LOCALDOMAIN: 'hostile.invalid',
    RES_OPTIONS: 'ndots:15 attempts:5 timeout:30',
  });
});

// ---------------------------------------------------------------------------------------------
// libuv

test('UV_THREADPOOL_SIZE=128: wwgetfiles keeps its 4 pool threads', async () => {
  const base = await peakThreads(
    files(() => slow),
    {},
  );
  const big = await peakThreads(
    files(() => slow),
    { UV_THREADPOOL_SIZE: '128' },
  );
  assert.is(big.result.code, 0, big.result.stderr);
  assert.match(big.result.stderr, /7 installed/);
  assert.ok(base.peak > 4, `baseline peak ${base.peak} threads`);
  assert.ok(big.peak <= base.peak + 1, `UV_THREADPOOL_SIZE=128: peak ${big.peak} threads, ${base.peak} without it`);
});

test('UV_USE_IO_URING=1: acts (libuv submits file I/O through io_uring); the run is the same', async () => {
  await sameAsWithout(files(), { UV_USE_IO_URING: '1' });
});

// ---------------------------------------------------------------------------------------------
// Still acting (README says why that is harmless): what they do is asserted here

test("NODE_DEBUG: acts (diagnostic lines on stderr only); exit code, stdout and the tool's own lines are the same", async () => {
  const base = await inChroot(plain(), {});
  const r = await inChroot(plain(), { NODE_DEBUG: 'http,net,tls,fs,child_process' });
  assert.is(r.code, base.code);
  assert.is(r.stdout, base.stdout);
  assert.match(r.stderr, /^(HTTP|NET) \d+: /m);
  // Node warns (through the tool's log) that NODE_DEBUG=http can show secrets; the tool's own lines are unchanged
  assert.match(r.stderr, /^wwgetscript: warning: Setting the NODE_DEBUG environment variable to 'http' can expose sensitive data/m);
  assert.is(
    r.stderr
      .split('\n')
      .filter((l) => l.startsWith('wwgetscript:') && !l.startsWith('wwgetscript: warning:'))
      .join('\n'),
    base.stderr.trim(),
  );
});

test('NODE_DEBUG_NATIVE: acts (diagnostic lines on stderr only); exit code and stdout are the same', async () => {
  const base = await inChroot(plain(), {});
  const r = await inChroot(plain(), { NODE_DEBUG_NATIVE: 'all' });
  assert.is(r.code, base.code, r.stderr.slice(0, 300));
  assert.is(r.stdout, base.stdout);
});

test('NODE_V8_COVERAGE=DIR: acts (coverage JSON written into DIR at exit); the run is the same', async () => {
  rmSync(join(c.root, 'tmp/cov'), { recursive: true, force: true });
  await sameAsWithout(plain, { NODE_V8_COVERAGE: '/tmp/cov' });
  assert.ok(existsSync(join(c.root, 'tmp/cov')), 'no coverage written: update README');
  assert.ok(readdirSync(join(c.root, 'tmp/cov')).every((n) => /^coverage-\d+-\d+-\d+\.json$/.test(n)));
});

test('NODE_COMPILE_CACHE=DIR: acts (a cache of the embedded script written into DIR); the run is the same', async () => {
  rmSync(join(c.root, 'tmp/cc'), { recursive: true, force: true });
  await sameAsWithout(plain, { NODE_COMPILE_CACHE: '/tmp/cc' });
  assert.ok(existsSync(join(c.root, 'tmp/cc')), 'no compile cache written: update README');
});

test('TZ, TZDIR: act only on the local time in the name of a file moved aside (as upstream); the run is the same', async () => {
  await sameAsWithout(plain, { TZ: 'Pacific/Kiritimati', TZDIR: '/hostile/none', ICU_TIMEZONE_FILES_DIR: '/hostile/none' });
  await sameAsWithout(files(), { TZ: 'Pacific/Kiritimati' }, 'wwgetfiles');
});

test("GLIBC_TUNABLES, MALLOC_ARENA_MAX (the C library's allocator): act only on memory use; the run is the same", async () => {
  await sameAsWithout(files(), { GLIBC_TUNABLES: 'glibc.malloc.arena_max=1:glibc.malloc.mmap_threshold=4096', MALLOC_ARENA_MAX: '1' });
});

// ---------------------------------------------------------------------------------------------
// The launcher (a copied folder on any machine) gets the same protection

test('through the launcher: NODE_OPTIONS, OPENSSL_CONF, NODE_TLS_REJECT_UNAUTHORIZED ignored', async () => {
  const hostile = join(c.root, 'hostile');
  const env = { WWINIT_HWADDR: HW, WWMASTER: m.address };
  // --sysroot: the run record of wwgetscript runtime goes under it, not into the host's /var/lib.
  const sys = mkdtempSync(join(tmpdir(), 'env-sysroot-'));
  const base = await run(bin('wwgetscript'), ['--sysroot', sys, '--source-port', 'any', 'runtime'], { env });
  assert.is(base.code, 0, base.stderr);
  const r = await run(bin('wwgetscript'), ['--sysroot', sys, '--source-port', 'any', 'runtime'], {
    env: { ...env, NODE_OPTIONS: `--require=${hostile}/mark.js`, OPENSSL_CONF: `${hostile}/openssl.cnf` },
  });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout, base.stdout);
  assert.is(r.stderr, '');
  assert.not.ok(existsSync(join(c.root, 'tmp/hostile-mark')) || existsSync('/tmp/hostile-mark'));
  copyFileSync(caA.certPath, join(hostile, 'a.pem'));
  const t = await run(
    bin('wwgetscript'),
    ['--sysroot', sys, '--source-port', 'any', '--https', '--ca-file', join(hostile, 'a.pem'), 'runtime'],
    {
      env: { WWINIT_HWADDR: HW, WWMASTER: tlsB.address, NODE_TLS_REJECT_UNAUTHORIZED: '0' },
    },
  );
  oneErrorLine(t, TLS_REFUSED, 'launcher, NODE_TLS_REJECT_UNAUTHORIZED=0');
});

test('every bundle removes those variables before any other module of it runs (esbuild keeps import order)', () => {
  for (const n of EXECUTABLES) {
    const code = readFileSync(join(ROOT, 'dist/work', `${n}.cjs`), 'utf8');
    const scrub = code.indexOf('\nscrubEnvironment(process.env);\n');
    assert.ok(scrub > 0, `${n}: no scrub`);
    assert.is(
      code.slice(0, scrub).search(/\brequire\(|\bprocess\.env\b/),
      -1,
      `${n}: something reads the environment or loads a module before the scrub`,
    );
  }
});

test.run();
