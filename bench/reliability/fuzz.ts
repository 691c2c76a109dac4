// Hostile input fuzzing (issue 6): the file-list parser, the settings parser
// (/warewulf/config, /proc/cmdline), the node-config parser and the archive
// reader each get N generated inputs: mutations of valid inputs (bit flips,
// byte insertions and deletions, truncation, line splices) and structured
// attacks ('..', absolute and NUL-bearing paths, huge numbers, bad modes,
// negative ids, symbolic links out of the root). Whatever parses is then used
// the way the tools use it: file-list entries and archive entries are really
// written under a sandbox root whose planted symbolic links lead to a canary
// directory outside it.
// A crash is any exception that is not the tools' own WwError (a TypeError, a
// RangeError, ...), which in the executables would be an unexplained failure.
//   node --import tsx bench/reliability/fuzz.ts [--quick] [--inputs N] [--seed N]
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ByteReader } from '../../src/core/vnfs/archive/bytes.ts';
import { readArchive } from '../../src/core/vnfs/archive/detect.ts';
import { isInside, realRoot, resolveParent, safeComponents } from '../../src/core/fs/confine.ts';
import { WwError } from '../../src/core/errors.ts';
import { Extractor } from '../../src/core/vnfs/extract.ts';
import { processIdentity } from '../../src/core/identity.ts';
import { parseFileList } from '../../src/core/protocol/filelist.ts';
import { parseNodeConfig } from '../../src/core/protocol/nodeconfig.ts';
import { createTemp, writeTemp } from '../../src/core/fs/temp.ts';
import { loadSettings } from '../../src/core/settings/sources.ts';
import { resolveMasters } from '../../src/core/settings/masters.ts';
import { SLEEPTIME, WWGETFILES_INTERVAL, resolveHwaddr, resolveScheme, secondsSetting } from '../../src/core/settings/node.ts';
import { parseShellVars, shellQuote } from '../../src/core/settings/shellvars.ts';
import { startDelaySeconds } from '../../src/core/files/delay.ts';
import { makeCpio } from '../../test/helpers/master/cpio.ts';
import { listLine, sampleFixture } from '../../test/helpers/master/fixtures.ts';
import { Figures, Rng, cliMain } from './common.ts';

// ---------------------------------------------------------------------------
// Generic mutation

const ATTACK_PATHS = [
  '..',
  '/..',
  '/../../../etc/passwd',
  '/etc/../../outside/x',
  '/a/b/../../../x',
  'relative/path',
  './x',
  '',
  '/',
  '//',
  '/./.',
  '/etc/\0passwd',
  '/etc/pass\0',
  '\0',
  '/escape/pwned',
  '/abs/pwned',
  '/loop/loop/x',
  '/dangling/x',
  `/${'a'.repeat(300)}`,
  `/${'d/'.repeat(3000)}x`,
  '/etc/hosts\r',
  '/tab\there',
  '/sp ace',
  '/ü/ñ',
  '/\u202e/x',
  '/x/.',
  '/x/..',
  '/escape',
  '/escape/',
  '/abs',
  '/.ww',
  '/etc/.hosts.ww0123456789abcdef',
];
const HUGE_NUMBERS = [
  '99999999999999999999',
  '18446744073709551616',
  '4294967295',
  '4294967296',
  '-1',
  '-0',
  '1e9',
  '0x10',
  '9007199254740993',
  '00000000000000000001',
];
const BAD_MODES = [' 9999', 'd12345', 'z0644', ' 07777', ' 0644 ', 'x0644', ' -644', '  64', 'l', ' 0o644', 'D0755', '-0644'];

function mutateBytes(rng: Rng, input: Buffer, maxOps = 4): Buffer {
  let b = Buffer.from(input);
  const ops = 1 + rng.int(maxOps);
  for (let i = 0; i < ops; i++) {
    const at = b.length ? rng.int(b.length) : 0;
    switch (rng.int(8)) {
      case 0:
        if (b.length) b[at] ^= 1 << rng.int(8);
        break;
      case 1:
        if (b.length) b[at] = rng.int(256);
        break;
      case 2:
        b = Buffer.concat([b.subarray(0, at), rng.bytes(1 + rng.int(8)), b.subarray(at)]);
        break;
      case 3:
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + rng.int(16)))]);
        break;
      case 4:
        b = b.subarray(0, at);
        break; // truncation
      case 5: {
        // duplicate a slice
        const len = rng.int(Math.min(64, b.length - at) + 1);
        b = Buffer.concat([b.subarray(0, at), b.subarray(at, at + len), b.subarray(at)]);
        break;
      }
      case 6:
        if (b.length) b[at] = rng.pick([0, 10, 13, 32, 47, 46, 92, 39, 34, 36, 96, 0xff]);
        break;
      case 7: {
        // interesting ASCII digits (sizes, modes, ids)
        const s = Buffer.from(rng.pick(HUGE_NUMBERS));
        b = Buffer.concat([b.subarray(0, at), s, b.subarray(Math.min(b.length, at + s.length))]);
        break;
      }
    }
  }
  return b;
}

function isCrash(err: unknown): boolean {
  return !(err instanceof WwError);
}

interface Result {
  inputs: number;
  crashes: number;
  outside: number;
  parsed: number;
  extra: Record<string, number>;
  samples: string[];
}

function recordCrash(r: Result, err: unknown, input: Buffer | string): void {
  r.crashes++;
  if (r.samples.length < 5) {
    const text = Buffer.isBuffer(input) ? input.subarray(0, 120).toString('latin1') : input.slice(0, 120);
    r.samples.push(`${(err as Error)?.stack?.split('\n').slice(0, 3).join(' / ') ?? String(err)} <- ${JSON.stringify(text)}`);
  }
}

// ---------------------------------------------------------------------------
// A sandbox root with symbolic links planted to lead out of it

class Sandbox {
  readonly work = fs.mkdtempSync(join(tmpdir(), 'ww-fuzz-'));
  readonly root = join(this.work, 'root');
  readonly outside = join(this.work, 'outside');
  rootReal = '';
  private readonly canary = 'canary: must never change\n';

  constructor() {
    fs.mkdirSync(this.outside);
    fs.writeFileSync(join(this.outside, 'canary'), this.canary);
    fs.mkdirSync(this.root);
    this.rootReal = fs.realpathSync(this.root);
    this.plant();
  }

  plant(): void {
    const p = (n: string) => join(this.root, n);
    fs.symlinkSync('../outside', p('escape'));
    fs.symlinkSync(this.outside, p('abs'));
    fs.symlinkSync('loop', p('loop'));
    fs.symlinkSync('nowhere/at/all', p('dangling'));
    fs.mkdirSync(p('etc'));
    fs.symlinkSync('../../outside/canary', p('etc/hosts'));
  }

  reset(): void {
    spawnSync('rm', ['-rf', this.root]);
    fs.mkdirSync(this.root);
    this.plant();
  }

  /** Anything written outside the root since the start: new entries or a changed canary. */
  outsideChanges(): number {
    let n = 0;
    const names = fs.readdirSync(this.outside);
    if (names.length !== 1 || names[0] !== 'canary') n += Math.max(1, names.length - 1);
    const st = fs.lstatSync(join(this.outside, 'canary'));
    if (!st.isFile() || fs.readFileSync(join(this.outside, 'canary'), 'utf8') !== this.canary) n++;
    const top = fs.readdirSync(this.work).sort().join(',');
    if (top !== 'outside,root') n++;
    return n;
  }

  dispose(): void {
    spawnSync('rm', ['-rf', this.work]);
  }
}

// ---------------------------------------------------------------------------
// 1. The file list, and placing what it lists

function fileListSeeds(): string[] {
  const f = sampleFixture();
  const all = f.files.map(listLine).join('');
  return [all, f.files.slice(0, 3).map(listLine).join(''), '1 hosts 0 0  0644 1700000000 /etc/hosts\n', ''];
}

function fileListAttack(rng: Rng): string {
  const lines: string[] = [];
  const n = 1 + rng.int(4);
  for (let i = 0; i < n; i++) {
    const id = rng.chance(0.2) ? rng.pick(HUGE_NUMBERS) : String(rng.int(1000));
    const uid = rng.chance(0.2) ? rng.pick(HUGE_NUMBERS) : String(rng.pick([0, 1000, 65534]));
    const gid = rng.chance(0.2) ? rng.pick(HUGE_NUMBERS) : String(rng.pick([0, 100]));
    const tmode = rng.chance(0.2)
      ? rng.pick(BAD_MODES)
      : `${rng.pick([' ', 'd', 'l', 'p', 's', 'b', 'c'])}${rng.pick(['0644', '0755', '4755', '7777', '0000'])}`;
    const ts = rng.chance(0.2) ? rng.pick(HUGE_NUMBERS) : String(1700000000 + rng.int(1000));
    const path = rng.chance(0.7) ? rng.pick(ATTACK_PATHS) : `/etc/f${rng.int(100)}`;
    const sep = rng.pick([' ', '  ', '\t', ' \t ']);
    lines.push([id, `n${i}`, uid, gid, tmode, ts, path].join(sep));
  }
  return lines.join(rng.pick(['\n', '\r\n', '\n\n'])) + (rng.chance(0.8) ? '\n' : '');
}

async function fuzzFileList(rng: Rng, inputs: number, box: Sandbox): Promise<Result> {
  const r: Result = {
    inputs: 0,
    crashes: 0,
    outside: 0,
    parsed: 0,
    extra: { placed: 0, refused: 0, 'placed outside (by real path)': 0 },
    samples: [],
  };
  const seeds = fileListSeeds().map((s) => Buffer.from(s));
  for (let i = 0; i < inputs; i++) {
    const input = rng.chance(0.5) ? Buffer.from(fileListAttack(rng)) : mutateBytes(rng, rng.pick(seeds), 6);
    r.inputs++;
    let entries;
    try {
      entries = parseFileList(input.toString('utf8'));
      r.parsed++;
    } catch (err) {
      if (isCrash(err)) recordCrash(r, err, input);
      continue;
    }
    // Place (at most 3 of) the entries as wwgetfiles would: confine, resolve the parent, write beside, rename.
    for (const e of entries.slice(0, 3)) {
      try {
        const parts = safeComponents(e.path, { requireAbsolute: true });
        const parent = await resolveParent(box.rootReal, parts, true);
        if (!parent) continue;
        if (!isInside(box.rootReal, fs.realpathSync(parent.dir))) r.extra['placed outside (by real path)']++;
        if (e.type === 'dir') {
          fs.mkdirSync(join(parent.dir, parent.name), { recursive: false, mode: 0o755 });
        } else {
          const t = await createTemp(parent.dir, parent.name);
          writeTemp(t, Buffer.from(`${e.id}\n`));
          fs.closeSync(t.fd);
          await rename(t.path, join(parent.dir, parent.name));
        }
        r.extra.placed++;
      } catch (err) {
        if (err instanceof WwError) r.extra.refused++;
        else if (!['EEXIST', 'EISDIR', 'ENOTDIR', 'ENAMETOOLONG', 'ENOTEMPTY', 'ELOOP'].includes((err as NodeJS.ErrnoException).code ?? ''))
          recordCrash(r, err, input);
      }
    }
    if (i % 2000 === 1999) {
      r.outside += box.outsideChanges();
      box.reset();
    }
  }
  r.outside += box.outsideChanges() + r.extra['placed outside (by real path)'];
  box.reset();
  return r;
}

// ---------------------------------------------------------------------------
// 2. Settings: /warewulf/config and /proc/cmdline

const CONFIG_SEED = `WWINIT_HWADDR=00:11:22:33:44:55
export WWINIT_HWADDR
WWMASTER='10.0.0.1,10.0.0.2:8080'
export WWMASTER
WWHTTP="http"
WWGETFILES_INTERVAL=180
SLEEPTIME=
# a comment
WWNODENAME=n0001 # trailing comment
export WWCLUSTER WWDOMAIN
WWDOMAIN="example.test"; WWFQDN=n0001.example.test
`;
const CMDLINE_SEED =
  'BOOT_IMAGE=/vmlinuz initrd=initramfs.img wwmaster=10.0.0.1:80,[fd00::1]:8080 wwinit_hwaddr=00:11:22:33:44:55 quiet wwdebug= console=ttyS0,115200\n';

const SHELL_ATTACKS = [
  `WWMASTER=$(reboot)`,
  'WWMASTER=`id`',
  `WWMASTER='unterminated`,
  `WWMASTER="a\\"b`,
  'WWMASTER=a\\',
  'WWINIT_HWADDR=-1',
  'WWGETFILES_INTERVAL=-1',
  'WWGETFILES_INTERVAL=99999999999999999999999',
  `SLEEPTIME=${'9'.repeat(400)}`,
  'SLEEPTIME=1e9',
  'SLEEPTIME=4294967296',
  'WWMASTER=host:99999999999',
  'WWMASTER=host:0',
  'WWMASTER=,,,',
  'WWMASTER=[::1',
  'WWHTTP=ftp',
  'WWINIT_HWADDR=' + 'a'.repeat(59),
  'WWINIT_HWADDR=00:11:22:33:44:55\0evil',
  'export',
  'export 1BAD',
  '=value',
  'A B=c',
  'WWMASTER=a;reboot',
  'WWMASTER=\'a\'"b"c',
  'WWMASTER=a\r',
  `WWMASTER=${'h'.repeat(100000)}`,
];
const CMDLINE_ATTACKS = [
  'wwmaster=',
  'wwmaster==x',
  'WWMASTER=a:65536',
  'wwmaster=a:-1',
  'ww=1',
  'wwinit_hwaddr=ZZ:ZZ',
  `wwmaster=${'x,'.repeat(5000)}`,
  'wwgetfiles_interval=1e999',
  'wwsleeptime=-5',
  'wwhttp=HTTPS',
  'wwmaster=\0',
  'wwmaster=a b',
  'wwmaster=[fd00::1]:99999',
];

const MAX_TIMER_S = Math.floor(0x7fffffff / 1000);

function fuzzSettings(rng: Rng, inputs: number): Result {
  const r: Result = {
    inputs: 0,
    crashes: 0,
    outside: 0,
    parsed: 0,
    extra: { 'masters accepted': 0, 'invalid values accepted': 0 },
    samples: [],
  };
  const cfgSeed = Buffer.from(CONFIG_SEED);
  const cmdSeed = Buffer.from(CMDLINE_SEED);
  for (let i = 0; i < inputs; i++) {
    let config = rng.chance(0.7) ? mutateBytes(rng, cfgSeed, 5).toString('utf8') : CONFIG_SEED;
    let cmdline = rng.chance(0.5) ? mutateBytes(rng, cmdSeed, 5).toString('utf8') : CMDLINE_SEED;
    if (rng.chance(0.4)) config += `\n${rng.pick(SHELL_ATTACKS)}\n`;
    if (rng.chance(0.3)) cmdline = `${cmdline.trim()} ${rng.pick(CMDLINE_ATTACKS)}`;
    if (rng.chance(0.2)) config = ''; // the command line alone
    r.inputs++;
    const input = `${config}\n---\n${cmdline}`;
    try {
      const s = loadSettings({
        env: {},
        readFile: (p) => (p.endsWith('config') ? config : p.endsWith('cmdline') ? cmdline : undefined),
      });
      r.parsed++;
      const tryWw = <T>(f: () => T): T | undefined => {
        try {
          return f();
        } catch (err) {
          if (isCrash(err)) throw err;
          return undefined;
        }
      };
      const masters = tryWw(() => resolveMasters(s));
      if (masters) {
        r.extra['masters accepted']++;
        for (const m of masters) {
          const hostOk = /^[A-Za-z0-9._-]+$/.test(m.host) || /^[0-9A-Fa-f:.]+$/.test(m.host);
          const portOk = m.port === undefined || (Number.isInteger(m.port) && m.port >= 1 && m.port <= 65535);
          if (!hostOk || !portOk) r.extra['invalid values accepted']++;
        }
      }
      const hw = tryWw(() => resolveHwaddr(s));
      if (hw !== undefined && !/^[a-z0-9:]+$/.test(hw)) r.extra['invalid values accepted']++;
      tryWw(() => resolveScheme(s));
      const sleeptime = tryWw(() => secondsSetting(s, SLEEPTIME, () => {}));
      const interval = tryWw(() => secondsSetting(s, WWGETFILES_INTERVAL, () => {}));
      if (
        sleeptime !== undefined ||
        interval !== undefined ||
        (tryWw(() => s.get('SLEEPTIME')) === undefined && tryWw(() => s.get('WWGETFILES_INTERVAL')) === undefined)
      ) {
        const delay = startDelaySeconds({ sleeptime, interval, inInitramfs: false, random: () => rng.float() });
        // What wwgetfiles hands to setTimeout: must be a whole number of seconds that a timer can wait.
        if (!Number.isSafeInteger(delay) || delay < 0 || delay > MAX_TIMER_S) {
          r.extra['invalid values accepted']++;
          if (r.samples.length < 5)
            r.samples.push(
              `start delay ${delay} s from SLEEPTIME=${s.get('SLEEPTIME')?.slice(0, 30)} WWGETFILES_INTERVAL=${s.get('WWGETFILES_INTERVAL')?.slice(0, 30)}`,
            );
        }
      }
    } catch (err) {
      if (isCrash(err)) recordCrash(r, err, input);
    }
  }
  return r;
}

// ---------------------------------------------------------------------------
// 3. Node configuration (/WW/nodeconfig text), and re-quoting what was parsed

function nodeConfigSeed(): string {
  const pairs: [string, string][] = [
    ['WWNAME', 'n0001'],
    ['WWHWADDR', '00:11:22:33:44:55'],
    ['WWIPADDR', '10.0.1.1'],
    ['WW__NETDEVLIST', 'eth0=10.0.1.1,ib0=10.1.1.1'],
    ['WWFILEIDS', '1,2,3'],
    ['WWGROUPS', 'compute,gpu'],
    ['WWVNFS_NAME', 'centos-7'],
    ['WWVNFS_CHECKSUM', 'd41d8cd98f00b204e9800998ecf8427e'],
  ];
  return pairs.map(([k, v]) => `${k}="${v}"\nexport ${k}\n`).join('');
}

const CONFIG_ATTACKS = [
  'WWX="$(reboot)"',
  'WWX=`rm -rf /`',
  "WWX='it'\\''s'",
  'WWX="a\\\nb"',
  'WWX="\\$HOME"',
  'WWX=a\\ b',
  'WWX="unterminated',
  'export WWX WW-Y',
  'WWX="\0"',
  'WWX=""""',
  "WWX=''",
  'WWX="ü\u202e"',
  `WWX="${'x'.repeat(70000)}"`,
  'WWX=a b',
  'WWX=a;b',
];

function fuzzNodeConfig(rng: Rng, inputs: number): Result {
  const r: Result = {
    inputs: 0,
    crashes: 0,
    outside: 0,
    parsed: 0,
    extra: { 'values that do not survive re-quoting': 0, 'invalid keys accepted': 0 },
    samples: [],
  };
  const seed = Buffer.from(nodeConfigSeed());
  for (let i = 0; i < inputs; i++) {
    let text = rng.chance(0.8) ? mutateBytes(rng, seed, 6).toString(rng.chance(0.9) ? 'utf8' : 'latin1') : nodeConfigSeed();
    if (rng.chance(0.4)) text += `${rng.pick(CONFIG_ATTACKS)}\nexport WWX\n`;
    r.inputs++;
    try {
      const cfg = parseNodeConfig(text);
      r.parsed++;
      for (const [k, v] of cfg.vars) {
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) r.extra['invalid keys accepted']++;
        // What the tools write back (the bootstrap's /warewulf/config) must read back byte for byte.
        const back = parseShellVars(`${k}=${shellQuote(v)}\n`).vars.get(k);
        if (back !== v && !v.includes('\n') && !v.includes('\r')) {
          r.extra['values that do not survive re-quoting']++;
          if (r.samples.length < 5) r.samples.push(`re-quote ${JSON.stringify(v.slice(0, 60))} -> ${JSON.stringify(back?.slice(0, 60))}`);
        }
      }
    } catch (err) {
      if (isCrash(err)) recordCrash(r, err, text);
    }
  }
  return r;
}

// ---------------------------------------------------------------------------
// 4. Archives (cpio newc/crc, tar), unpacked for real into the sandbox

function newc(
  name: string,
  o: {
    mode?: number;
    data?: string | Buffer;
    ino?: number;
    nlink?: number;
    size?: number;
    nameSize?: number;
    magic?: string;
    uid?: number;
    rdev?: [number, number];
  } = {},
): Buffer {
  const data = Buffer.isBuffer(o.data) ? o.data : Buffer.from(o.data ?? '');
  const nameBuf = Buffer.from(`${name}\0`);
  const f = [
    o.ino ?? 1,
    o.mode ?? 0o100644,
    o.uid ?? 0,
    0,
    o.nlink ?? 1,
    1700000000,
    o.size ?? data.length,
    0,
    0,
    o.rdev?.[0] ?? 0,
    o.rdev?.[1] ?? 0,
    o.nameSize ?? nameBuf.length,
    0,
  ];
  const head = Buffer.from((o.magic ?? '070701') + f.map((x) => (x >>> 0).toString(16).padStart(8, '0')).join(''), 'latin1');
  const pad = (k: number) => Buffer.alloc((4 - (k % 4)) % 4);
  return Buffer.concat([head, nameBuf, pad(110 + nameBuf.length), data, pad(data.length)]);
}
const trailer = () => newc('TRAILER!!!', { mode: 0, ino: 0 });

function tarHeader(
  name: string,
  o: { type?: string; size?: number; link?: string; mode?: number; prefix?: string; sizeField?: string } = {},
): Buffer {
  const h = Buffer.alloc(512);
  h.write(name.slice(0, 100), 0, 'latin1');
  h.write((o.mode ?? 0o644).toString(8).padStart(7, '0'), 100);
  h.write('0000000', 108);
  h.write('0000000', 116);
  h.write(o.sizeField ?? (o.size ?? 0).toString(8).padStart(11, '0'), 124);
  h.write('14544417400', 136);
  h.write(o.type ?? '0', 156);
  if (o.link) h.write(o.link.slice(0, 100), 157, 'latin1');
  h.write('ustar\u000000', 257, 'latin1');
  if (o.prefix) h.write(o.prefix.slice(0, 155), 345, 'latin1');
  h.fill(' ', 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return h;
}
function tarEntry(name: string, data = '', o: Parameters<typeof tarHeader>[1] = {}): Buffer {
  const d = Buffer.from(data);
  return Buffer.concat([tarHeader(name, { size: d.length, ...o }), d, Buffer.alloc((512 - (d.length % 512)) % 512)]);
}
const tarEnd = () => Buffer.alloc(1024);

function archiveSeeds(): Buffer[] {
  return [
    makeCpio([
      { path: 'sbin', type: 'dir' },
      { path: 'sbin/init', mode: 0o755, content: '#!/bin/sh\n' },
      { path: 'etc', type: 'dir' },
      { path: 'etc/motd', content: 'hello\n' },
      { path: 'etc/link', type: 'link', content: 'motd' },
      { path: 'root', type: 'dir', mode: 0o700 },
    ]),
    Buffer.concat([
      newc('.', { mode: 0o40755 }),
      newc('a', { mode: 0o40755, ino: 2 }),
      newc('a/h1', { ino: 9, nlink: 2, size: 0 }),
      newc('a/h2', { ino: 9, nlink: 2, data: 'shared\n' }),
      newc('a/fifo', { mode: 0o10644, ino: 3 }),
      trailer(),
    ]),
    Buffer.concat([newc('x', { magic: '070702', data: 'crc data\n' }), newc('TRAILER!!!', { magic: '070702', mode: 0, ino: 0 })]),
    Buffer.concat([
      tarEntry('./', '', { type: '5', mode: 0o755 }),
      tarEntry('./etc/', '', { type: '5', mode: 0o755 }),
      tarEntry('./etc/hosts', '127.0.0.1 localhost\n'),
      tarEntry('./etc/l', '', { type: '2', link: 'hosts' }),
      tarEntry('./etc/h', '', { type: '1', link: './etc/hosts' }),
      tarEnd(),
    ]),
  ];
}

function archiveAttack(rng: Rng): Buffer {
  const path = rng.pick([
    ...ATTACK_PATHS.map((p) => p.replace(/^\//, rng.chance(0.5) ? '/' : '')),
    'escape/x',
    'abs/x',
    'etc/hosts',
    'loop/x',
    'dangling/x',
  ]);
  switch (rng.int(9)) {
    case 0:
      return Buffer.concat([newc(path, { data: 'pwned\n' }), trailer()]);
    case 1:
      return Buffer.concat([
        newc('l', { mode: 0o120777, data: rng.pick(['/', '..', '../outside', '../../..', '/tmp', 'l']) }),
        newc(`l/${rng.pick(['x', 'canary', 'sub/x'])}`, { ino: 2, data: 'through the link\n' }),
        trailer(),
      ]);
    case 2:
      return Buffer.concat([newc('h', { ino: 5, nlink: 2, size: 0 }), newc(path, { ino: 5, nlink: 2, data: 'hard\n' }), trailer()]);
    case 3:
      return Buffer.concat([newc('big', { size: rng.pick([0xffffffff, 0x7fffffff, 0x80000000]), data: 'short' }), trailer()]);
    case 4:
      return Buffer.concat([newc(path, { nameSize: rng.pick([0, 1, 0xffffffff, 70000]) }), trailer()]);
    case 5:
      return Buffer.concat([
        newc(path, {
          mode: rng.pick([0o170000, 0o020666, 0o060660, 0o140755, 0o000644, 0o177777, 0xffffffff]),
          rdev: [rng.int(4096), rng.int(1 << 20)],
        }),
        trailer(),
      ]);
    case 6:
      return Buffer.concat([
        tarEntry(path, 'tar pwned\n', {
          type: rng.pick(['0', '1', '2', '5', '3', '4', '6', 'x', 'g', 'L', 'K', '7']),
          link: rng.pick(['../../outside/canary', '/etc/passwd', 'escape', 'x']),
        }),
        tarEnd(),
      ]);
    case 7:
      return Buffer.concat([
        tarEntry('f', 'x', {
          sizeField: rng.pick(['77777777777', '-0000000001', '\x80\0\0\0\0\0\0\0\0\0\xff', 'zzzzzzzzzzz', '99999999999']),
        }),
        tarEnd(),
      ]);
    default: {
      // A pax header that renames the next entry.
      const rec = (k: string, v: string) => {
        const line = ` ${k}=${v}\n`;
        let len = line.length + 2;
        while (String(len).length + line.length !== len) len = String(len).length + line.length;
        return `${len}${line}`;
      };
      const pax = rec('path', path) + (rng.chance(0.5) ? rec('size', rng.pick(['99999999999999999999', '-1', '1e9', '5'])) : '');
      return Buffer.concat([tarEntry('PaxHeader', pax, { type: 'x' }), tarEntry('innocent', 'data\n'), tarEnd()]);
    }
  }
}

async function fuzzArchives(rng: Rng, inputs: number, box: Sandbox): Promise<Result> {
  const r: Result = { inputs: 0, crashes: 0, outside: 0, parsed: 0, extra: { 'entries written': 0, 'archives refused': 0 }, samples: [] };
  const seeds = archiveSeeds();
  const root = await realRoot(box.root);
  for (let i = 0; i < inputs; i++) {
    const input = rng.chance(0.4) ? archiveAttack(rng) : mutateBytes(rng, rng.pick(seeds), 4);
    r.inputs++;
    const ex = new Extractor({ root: box.rootReal, identity: processIdentity() });
    try {
      // Split into chunks at a random size: the reader must not care where the stream breaks.
      const step = 1 + rng.int(600);
      const chunks = async function* () {
        for (let o = 0; o < input.length; o += step) yield input.subarray(o, o + step);
      };
      for await (const e of readArchive(new ByteReader(chunks()))) await ex.add(e);
      ex.finish();
      r.parsed++;
    } catch (err) {
      if (isCrash(err)) recordCrash(r, err, input);
      else r.extra['archives refused']++;
    }
    r.extra['entries written'] += ex.stats.entries;
    if (i % 1000 === 999) {
      r.outside += box.outsideChanges();
      box.reset();
    }
  }
  void root;
  r.outside += box.outsideChanges();
  box.reset();
  return r;
}

// ---------------------------------------------------------------------------

export async function fuzz(o: { inputs: number; seed: number; log?: (l: string) => void }): Promise<Figures[]> {
  const log = o.log ?? (() => {});
  const box = new Sandbox();
  const out: Figures[] = [];
  try {
    const runs: [string, string, (rng: Rng) => Promise<Result> | Result][] = [
      ['file-list parser (+ placing what parses)', 'writes', (rng) => fuzzFileList(rng, o.inputs, box)],
      ['settings parser (/warewulf/config, /proc/cmdline)', 'none', (rng) => fuzzSettings(rng, o.inputs)],
      ['node-config parser', 'none', (rng) => fuzzNodeConfig(rng, o.inputs)],
      ['archive reader (+ unpacking what parses)', 'writes', (rng) => fuzzArchives(rng, o.inputs, box)],
    ];
    let k = 0;
    for (const [title, writes, fn] of runs) {
      const t0 = Date.now();
      const r = await fn(new Rng(o.seed + k++));
      const f = new Figures(`fuzz: ${title} (seed ${o.seed + k - 1})`);
      f.add('inputs', r.inputs);
      f.add('accepted (parsed without error)', r.parsed);
      for (const [name, v] of Object.entries(r.extra)) {
        const zero = name.startsWith('invalid') || name.startsWith('values that') || name.startsWith('placed outside');
        f.add(name, v, zero);
      }
      f.add("crashes (exceptions other than the tools' own errors)", r.crashes, true);
      if (writes === 'writes') f.add('writes outside the root', r.outside, true);
      else f.add('writes outside the root', 'n/a (parses only; nothing is written)');
      f.add('elapsed s', (Date.now() - t0) / 1000);
      for (const s of r.samples) log(`  sample: ${s}`);
      out.push(f);
    }
  } finally {
    box.dispose();
  }
  return out;
}

export async function main(quick: boolean, argv: string[] = []): Promise<Figures[]> {
  const opt = (name: string, dflt: number) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? Number(argv[i + 1]) : dflt;
  };
  const seed = opt('seed', Date.now() % 1e9);
  return fuzz({ inputs: opt('inputs', quick ? 20_000 : 100_000), seed, log: (l) => console.log(l) });
}

cliMain(import.meta.url, main);
