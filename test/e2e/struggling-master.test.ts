// A master that struggles (issue 17, bad input): one file answering 500 for ever, a master that
// accepts connections and never answers, one whose listen queue is full, one that says 503 with
// Retry-After. The BUILT wwgetfiles against real servers (the test master; a listening process
// that is stopped, so the kernel's queue fills). Each gives its documented result, and the node's
// requests are counted and timed: it must not hammer a master in trouble.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sampleFixture } from '../helpers/master/fixtures.ts';
import { deadAddress, startMaster, type Fault, type RequestInfo } from '../helpers/master/server.ts';
import { bin, run } from '../helpers/exec.ts';
import { HWADDR } from '../helpers/node.ts';

const isRoot = process.getuid?.() === 0;
const HOSTS_ID = '1'; // the sample fixture's /etc/hosts, timestamp 1700000100
const HOSTS_TIMESTAMP = sampleFixture().files.find((f) => f.id === 1)!.timestamp;

/** A node's sysroot: a running node (no /init), or the initramfs (/init exists). */
function sysroot(initramfs: boolean): string {
  const d = mkdtempSync(join(tmpdir(), 'struggle-sys-'));
  if (initramfs) writeFileSync(join(d, 'init'), '#!/bin/sh\n');
  return d;
}

/** The test master with `fault`, every request's arrival time recorded. */
async function master(fault: (r: RequestInfo) => Fault | undefined) {
  const seen: { t: number; r: RequestInfo }[] = [];
  const m = await startMaster(sampleFixture(), {
    privilegedPorts: isRoot,
    fault: (r) => {
      seen.push({ t: Date.now(), r });
      return fault(r);
    },
  });
  return { m, seen };
}

async function wwgetfiles(address: string, o: { initramfs: boolean; args: string[] }) {
  // The harness's kill comes well after the tool's own --max-run: the test asserts the tool's bound,
  // and a kill first reads as exit null (stop 24's CI: three 15-22 s back-offs passed 58 s).
  const i = o.args.indexOf('--max-run');
  const maxRunS = i >= 0 ? Number(o.args[i + 1]) : 0;
  const root = mkdtempSync(join(tmpdir(), 'struggle-root-'));
  const t0 = Date.now();
  const r = await run(bin('wwgetfiles'), ['--sysroot', sysroot(o.initramfs), '--no-delay', ...o.args], {
    env: { WWMASTER: address, WWINIT_HWADDR: HWADDR, NEWROOT: root },
    timeoutMs: Math.max(58, maxRunS + 30) * 1000,
  });
  return { ...r, root, secs: (Date.now() - t0) / 1000 };
}

/** The shortest gap between consecutive times (s), and the most in any 60 s. */
function pace(times: number[]): { minGapS: number; perMinute: number } {
  const gaps = times.slice(1).map((t, i) => (t - times[i]) / 1000);
  const perMinute = Math.max(0, ...times.map((t) => times.filter((u) => u >= t && u < t + 60_000).length));
  return { minGapS: gaps.length ? Math.min(...gaps) : Infinity, perMinute };
}

test('500 for every request of one file, running node: that file named, the others installed, the mark held, exit 2, 3 spaced requests', async () => {
  const { m, seen } = await master((r) => (r.query.fileid === HOSTS_ID ? { kind: 'status', status: 500 } : undefined));
  try {
    const r = await wwgetfiles(m.address, { initramfs: false, args: [] });
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr, /\/etc\/hosts: .*HTTP 500/);
    assert.match(r.stderr, /10 listed, \d+ installed, 0 unchanged, 1 failed/);
    const mark = Number(readFileSync(join(r.root, 'var/lib/wwruntime/wwgetfiles_timestamp'), 'utf8'));
    assert.ok(mark < HOSTS_TIMESTAMP, `the mark ${mark} stays below /etc/hosts' ${HOSTS_TIMESTAMP}`);
    const times = seen.filter((s) => s.r.query.fileid === HOSTS_ID).map((s) => s.t);
    const p = pace(times);
    console.log(`  500 file, running node: ${times.length} requests of it, min gap ${p.minGapS.toFixed(2)} s, ${r.secs.toFixed(1)} s`);
    assert.is(times.length, 3, 'three rounds for one object on a running node');
    assert.ok(p.minGapS >= 7, `an overload's back-off between them (jittered 15 s, 30 s: at least 7.5 s), not ${p.minGapS} s`);
  } finally {
    await m.stop();
  }
});

test('500 for one file in the initramfs: never given up while the master answers (--attempts 2), back-off paced, --max-run ends it', async () => {
  const { m, seen } = await master((r) => (r.query.fileid === HOSTS_ID ? { kind: 'status', status: 500 } : undefined));
  try {
    // An overload's back-off: 15 s then 30 s, each jittered 0.5-1.5x: a third request by 67.5 s.
    const r = await wwgetfiles(m.address, { initramfs: true, args: ['--attempts', '2', '--max-run', '72'] });
    const times = seen.filter((s) => s.r.query.fileid === HOSTS_ID).map((s) => s.t);
    const p = pace(times);
    console.log(`  500 file, initramfs: ${times.length} requests of it in ${r.secs.toFixed(1)} s, min gap ${p.minGapS.toFixed(2)} s`);
    assert.ok(times.length >= 3, `more rounds than --attempts 2 (${times.length}): an answering master is not given up on`);
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr, /\/etc\/hosts: run time limit \(--max-run\) reached after \d+ attempt\(s\): .*HTTP 500/);
    assert.ok(r.secs < 72 + 5, `--max-run 72 holds: ended after ${r.secs} s`);
    assert.ok(p.minGapS >= 7 && p.perMinute <= 4, `back-off paced: min gap ${p.minGapS} s, ${p.perMinute} per minute`);
  } finally {
    await m.stop();
  }
});

test('a master that accepts connections and never answers: gives up after --attempts rounds, one request each, in both places', async () => {
  for (const initramfs of [false, true]) {
    const { m, seen } = await master(() => ({ kind: 'stall' }));
    try {
      const r = await wwgetfiles(m.address, { initramfs, args: ['--timeout', '1', '--attempts', '3'] });
      assert.is(r.code, 2, r.stderr);
      assert.match(r.stderr, /gave up after 3 attempt\(s\): .*no data for 1 s/);
      const p = pace(seen.map((s) => s.t));
      console.log(
        `  silent master (initramfs ${initramfs}): ${seen.length} requests in ${r.secs.toFixed(1)} s, min gap ${p.minGapS.toFixed(2)} s`,
      );
      assert.is(seen.length, 3, 'one request per round: nothing else while the list is not there');
      assert.ok(p.minGapS >= 1.9, `timeout (1 s) + back-off between requests, not ${p.minGapS} s`);
    } finally {
      await m.stop();
    }
  }
});

/** A listening process stopped with SIGSTOP and its queue filled: the kernel answers no more SYNs. */
async function fullQueue(): Promise<{ address: string; stop: () => void }> {
  const child = spawn(
    process.execPath,
    ['-e', "const s=require('net').createServer(()=>{});s.listen({host:'127.0.0.1',port:0,backlog:1},()=>console.log(s.address().port))"],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = await new Promise<number>((res) => child.stdout.once('data', (d) => res(Number(String(d).trim()))));
  child.kill('SIGSTOP');
  const fillers: net.Socket[] = [];
  for (let i = 0; i < 4; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    fillers.push(s);
  }
  await new Promise((r) => setTimeout(r, 300));
  return {
    address: `127.0.0.1:${port}`,
    stop: () => {
      for (const s of fillers) s.destroy();
      child.kill('SIGKILL');
    },
  };
}

test('a full listen queue (connects time out) and a refused connection: gives up after --attempts rounds, spaced by the back-off', async () => {
  const q = await fullQueue();
  try {
    for (const [what, address, why] of [
      ['full queue', q.address, /timed out after 1 s/],
      ['refused', await deadAddress(), /connection refused/],
    ] as const) {
      const r = await wwgetfiles(address, { initramfs: true, args: ['--connect-timeout', '1', '--attempts', '4', '-v'] });
      assert.is(r.code, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`gave up after 4 attempt\\(s\\): .*${why.source}`));
      const tries = r.stderr.split('\n').filter((l) => /master 127\.0\.0\.1:\d+: /.test(l) && why.test(l)).length;
      console.log(`  ${what}: ${tries} connection attempts in ${r.secs.toFixed(1)} s`);
      assert.is(tries, 4, `one connection per round\n${r.stderr}`);
      // Back-off after rounds 1-3: 2 s, 4 s, 6 s spread 0.5x-1.5x, so at least 6 s in all.
      assert.ok(r.secs >= 5.9, `${r.secs} s: the rounds are spaced, not hammered`);
    }
  } finally {
    q.stop();
  }
});

test('503 with Retry-After: 30 on a running node: no request before 30 s, so --max-run 20 ends it after one request', async () => {
  const { m, seen } = await master(() => ({ kind: 'body', status: 503, body: 'busy\n', headers: { 'Retry-After': '30' } }));
  try {
    const r = await wwgetfiles(m.address, { initramfs: false, args: ['--max-run', '20'] });
    const p = pace(seen.map((s) => s.t));
    console.log(`  503 Retry-After 30: ${seen.length} request(s) in ${r.secs.toFixed(1)} s (${p.perMinute} per minute)`);
    assert.is(seen.length, 1, 'the master asked for 30 s of quiet: no second request within the 20 s run');
    assert.is(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /run time limit \(--max-run\) reached after 1 attempt\(s\): .*503 Service Unavailable \(master busy, retry after 30 s\)/,
    );
    assert.ok(r.secs < 10, `and the run ended at once rather than sleeping into its bound (${r.secs} s)`);
  } finally {
    await m.stop();
  }
});

test('503 with Retry-After: 4 then served: the second request waits at least 4 s (not upstream 2 s); in the initramfs it goes on past --attempts', async () => {
  let busy = 1;
  const { m, seen } = await master((r) =>
    r.path === '/WW/file' && r.query.fileid === undefined && busy-- > 0
      ? { kind: 'body', status: 503, body: 'busy\n', headers: { 'Retry-After': '4' } }
      : undefined,
  );
  try {
    const r = await wwgetfiles(m.address, { initramfs: true, args: ['--attempts', '1'] });
    const lists = seen.filter((s) => s.r.query.fileid === undefined).map((s) => s.t);
    assert.is(lists.length, 2, `the list asked twice (once busy, once served), not ${lists.length} times\n${r.stderr}`);
    const gap = (lists[1] - lists[0]) / 1000;
    console.log(`  503 Retry-After 4: list asked again after ${gap.toFixed(2)} s`);
    assert.ok(gap >= 4 && gap <= 5.5, `asked again ${gap} s later`);
    assert.is(r.code, 0, r.stderr);
  } finally {
    await m.stop();
  }
});

test.run();
