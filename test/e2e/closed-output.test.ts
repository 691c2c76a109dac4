// A reader that goes away (issue 12 item 7): the BUILT executables in real shell
// pipelines whose reader closes its end early. A closed stdout ends the tool
// quietly with exit 2; a closed stderr only silences the log: the job carries on
// and ends with its normal status. Never the unhandled EPIPE of exit 1 ("locked").
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sampleFixture } from '../helpers/master/fixtures.ts';
import { deadAddress, startMaster, type RunningMaster } from '../helpers/master/server.ts';
import { bin, run } from '../helpers/exec.ts';
import { nodeEnv } from '../helpers/node.ts';

const isRoot = process.getuid?.() === 0;
let m: RunningMaster;
const scratch = mkdtempSync(join(tmpdir(), 'closed-output-'));
const sysroot = mkdtempSync(join(tmpdir(), 'sysroot-'));
// Far more than a pipe holds (64 KiB): the reader is gone long before the last byte.
const BIG_SCRIPT = 'echo x\n'.repeat(600_000);
const BIG_VALUE = 'v'.repeat(2 << 20);

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
let seq = 0;

/**
 * Runs `tool args` under env -i inside `{ ...; echo $? >STATUS; } REDIRECTS | READER`
 * and returns the tool's own exit status (not the pipeline's) and what it wrote to ERRFILE.
 */
async function piped(
  tool: string,
  args: string[],
  envs: Record<string, string>,
  redirects: string,
  reader: string,
): Promise<{ status: number; errfile: string }> {
  const n = ++seq;
  const status = join(scratch, `status.${n}`);
  const errfile = join(scratch, `stderr.${n}`);
  const assigns = Object.entries(envs)
    .map(([k, v]) => `${k}=${q(v)}`)
    .join(' ');
  // 'closed': a reader that closes its end before the tool starts (it says so with a file, the tool waits for it).
  const gone = join(scratch, `gone.${n}`);
  const wait = reader === 'closed' ? `i=0; while [ ! -e ${q(gone)} ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; ` : '';
  if (reader === 'closed') reader = `sh -c ${q(`exec 0<&-; : >${q(gone)}`)}`;
  const cmd =
    `{ ${wait}/usr/bin/env -i ${assigns} ${q(bin(tool))} ${args.map(q).join(' ')} ${redirects.replace('ERRFILE', q(errfile))}; ` +
    `echo $? >${q(status)}; } | ${reader}`;
  const r = await run('/bin/sh', ['-c', cmd], { env: { PATH: '/usr/bin:/bin' }, timeoutMs: 60_000 });
  assert.ok(existsSync(status), `no status recorded: ${r.stderr}`);
  return {
    status: Number(readFileSync(status, 'utf8').trim()),
    errfile: existsSync(errfile) ? readFileSync(errfile, 'utf8') : '',
  };
}

test.before(async () => {
  const fx = sampleFixture();
  fx.files.find((f) => f.id === 20)!.content = BIG_SCRIPT;
  fx.nodes[0].config = { ...fx.nodes[0].config, BIG: BIG_VALUE };
  m = await startMaster(fx, { privilegedPorts: isRoot });
});
test.after(() => m.stop());

const env = (extra: Record<string, string> = {}) => nodeEnv(m, extra);

test('wwgetscript | head -c 10: exit 2, nothing on stderr', async () => {
  const r = await piped('wwgetscript', ['--sysroot', sysroot, 'runtime'], env(), '2>ERRFILE', 'head -c 10 >/dev/null');
  assert.is(r.errfile, '', 'no stack trace, no message');
  assert.is(r.status, 2);
});

test('wwgetnodeconfig | head -c 10, and --json too: exit 2, nothing on stderr', async () => {
  for (const extra of [[], ['--json']]) {
    const r = await piped('wwgetnodeconfig', ['--sysroot', sysroot, ...extra], env(), '2>ERRFILE', 'head -c 10 >/dev/null');
    assert.is(r.errfile, '', `${extra}: no stack trace`);
    assert.is(r.status, 2, `${extra}`);
  }
});

test('the multi-call executable: wwruntime wwgetscript | head -c 10: exit 2, quietly', async () => {
  const r = await piped('wwruntime', ['wwgetscript', '--sysroot', sysroot, 'runtime'], env(), '2>ERRFILE', 'head -c 10 >/dev/null');
  assert.is(r.errfile, '');
  assert.is(r.status, 2);
});

test('--help and --version into a reader that already left: exit 2 (not 0, not 1), nothing on stderr', async () => {
  for (const [tool, arg] of [
    ['wwgetscript', '--help'],
    ['wwruntime', '--help'],
    ['wwruntime', '--version'],
  ]) {
    // The reader has closed its end before the tool starts: its first write meets a closed pipe.
    const r = await piped(tool, [arg], {}, '2>ERRFILE', 'closed');
    assert.is(r.errfile, '', `${tool} ${arg}`);
    assert.is(r.status, 2, `${tool} ${arg}`);
  }
});

test('stderr into head -1 while the master is down: the normal failure status 2, not 1', async () => {
  const dead = await deadAddress();
  // First line "retrying in 2 s" reaches head, which exits; 2 s later the final error line meets a closed pipe.
  for (const tool of ['wwgetscript', 'wwruntime']) {
    const args = [
      ...(tool === 'wwruntime' ? ['wwgetnodeconfig'] : []),
      '--sysroot',
      sysroot,
      '--attempts',
      '2',
      ...(tool === 'wwgetscript' ? ['runtime'] : []),
    ];
    const r = await piped(tool, args, env({ WWMASTER: dead }), '2>&1 >/dev/null', 'head -1 >/dev/null');
    assert.is(r.status, 2, tool);
  }
});

test('wwgetfiles with its stderr closed early still installs everything and exits 0', async () => {
  m.options.latencyMs = 100; // the log's first line (-v) is long read and head gone before the first object is done
  try {
    const root = mkdtempSync(join(tmpdir(), 'newroot-'));
    const r = await piped(
      'wwgetfiles',
      ['--sysroot', sysroot, '--no-delay', '-v', '--concurrency', '1'],
      env({ NEWROOT: root }),
      '2>&1 >/dev/null',
      'head -1 >/dev/null',
    );
    assert.is(r.status, 0);
    assert.is(readFileSync(join(root, 'etc/hosts'), 'utf8'), '127.0.0.1 localhost\n10.0.0.1 master\n10.0.1.0 n0000\n');
    assert.is(readlinkSync(join(root, 'etc/localtime')), '/usr/share/zoneinfo/UTC');
    assert.ok(existsSync(join(root, 'dev/wwblk')), 'the last object too');
    assert.is(
      readFileSync(join(root, 'var/lib/wwruntime/wwgetfiles_timestamp'), 'utf8'),
      '1700000900\n',
      'the mark advanced past everything',
    );
  } finally {
    m.options.latencyMs = 0;
  }
});

test('wwgetvnfs with its stderr closed early still unpacks the whole image and exits 0', async () => {
  m.options.latencyMs = 100; // the summary line comes long after head has read the first line and left
  try {
    const target = join(mkdtempSync(join(tmpdir(), 'vnfs-')), 'target');
    const r = await piped('wwgetvnfs', ['--sysroot', sysroot, '-v', '--target', target], env(), '2>&1 >/dev/null', 'head -1 >/dev/null');
    assert.is(r.status, 0);
    assert.is(readFileSync(join(target, 'sbin/init'), 'utf8'), '#!/bin/sh\necho init\n');
    assert.is(readlinkSync(join(target, 'etc/motd')), 'os-release');
  } finally {
    m.options.latencyMs = 0;
  }
});

test.run();
