// Crash sweep (issue 6): SIGKILL the BUILT wwgetfiles (and wwgetvnfs --target)
// at a random moment, again and again, and after every kill look at the tree:
// an installed object must be absent or complete and correct (content, type,
// mode, owner equal to a version the master has published for that path), then
// a normal run must bring the tree to exactly the expected state.
//   node --import tsx bench/reliability/crash-sweep.ts [--quick] [--kills N] [--seed N] [--only files|vnfs]
import { parseRecord } from '../../src/core/status/record.ts';
import * as fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { makedev } from '../../src/core/fs/device.ts';
import { bin } from '../../test/helpers/exec.ts';
import type { Fixture, FileObject } from '../../test/helpers/master/fixtures.ts';
import { startMaster, type RunningMaster } from '../../test/helpers/master/server.ts';
import { diffSnapshots, makeArchive, makeTree, snapshot } from '../../test/helpers/vnfstree.ts';
import { Figures, Rng, TEMP_RE, cliMain, fileSha, sha1, start, walk } from './common.ts';

const HW = '02:00:00:00:c0:de';
const MiB = 1 << 20;

export interface SweepOptions {
  kills: number;
  /** Number of file objects (at least 30). */
  objects: number;
  /** Largest regular file. */
  maxBytes: number;
  seed: number;
  log?: (l: string) => void;
}

// ---------------------------------------------------------------------------
// The model: what the master publishes, and every version it has published per path.

const FILE_MODES = [0o644, 0o600, 0o755, 0o4755, 0o640, 0o444, 0o2750];
const OWNERS: [number, number][] = [
  [0, 0],
  [1000, 100],
  [2, 2],
  [0, 42],
];

function buildObjects(rng: Rng, n: number, maxBytes: number, pool: Buffer): FileObject[] {
  const objs: FileObject[] = [];
  let id = 0;
  const ts = 1_700_000_000;
  const add = (o: Omit<FileObject, 'id' | 'timestamp' | 'name'>) => {
    id++;
    objs.push({ id, name: `o${id}`, timestamp: ts + rng.int(1000), ...o });
  };
  const dirs = Math.max(3, Math.round(n * 0.05));
  for (let i = 0; i < dirs; i++) {
    const [uid, gid] = rng.pick(OWNERS);
    add({ type: 'dir', path: `/srv/ww/d${i}`, mode: rng.pick([0o755, 0o750, 0o1777, 0o700]), uid, gid });
  }
  const where = (i: number) => rng.pick([`/srv/ww/d${i % dirs}`, '/etc/ww', '/usr/local/bin', `/var/lib/ww/s${i % 7}`]);
  const specials = Math.max(1, Math.round(n * 0.025));
  for (let i = 0; i < specials; i++) {
    add({ type: 'char', path: `/dev/ww/c${i}`, mode: 0o660, uid: 0, gid: 6, major: 1 + i, minor: 3 + i });
    add({ type: 'block', path: `/dev/ww/b${i}`, mode: 0o640, uid: 0, gid: 6, major: 8, minor: i });
    add({ type: 'fifo', path: `${where(i)}/fifo${i}`, mode: 0o620, uid: 0, gid: 0 });
  }
  add({ type: 'socket', path: '/run/ww.sock', mode: 0o755, uid: 0, gid: 0 });
  const links = Math.max(2, Math.round(n * 0.075));
  for (let i = 0; i < links; i++)
    add({ type: 'link', path: `${where(i)}/link${i}`, mode: 0o777, uid: 0, gid: 0, content: `/target/${i}/v0` });
  // Regular files: a few at the maximum size, some large, the rest small, some empty.
  const files = n - objs.length;
  for (let i = 0; i < files; i++) {
    const size =
      i < 2 ? maxBytes : i < 6 ? maxBytes >> 2 : i < 20 ? 64 * 1024 + rng.int(MiB - 64 * 1024) : i % 25 === 0 ? 0 : rng.int(16 * 1024);
    const [uid, gid] = rng.pick(OWNERS);
    add({
      type: 'file',
      path: `${where(i)}/file${i}`,
      mode: rng.pick(FILE_MODES),
      uid,
      gid,
      content: slice(rng, pool, Math.min(size, pool.length)),
    });
  }
  return objs;
}

function slice(rng: Rng, pool: Buffer, size: number): Buffer {
  const off = rng.int(pool.length - size + 1);
  return pool.subarray(off, off + size);
}

/** The on-disk signature an object's version must have. */
function wantSig(o: FileObject): string {
  const own = `${o.uid}:${o.gid}`;
  const mode = (o.mode & 0o7777).toString(8);
  switch (o.type) {
    case 'file':
      return `f ${sha1(o.content as Buffer)} ${mode} ${own}`;
    case 'dir':
      return `d ${mode} ${own}`;
    case 'link':
      return `l ${o.content} ${own}`;
    case 'char':
    case 'block':
      return `${o.type[0]} ${makedev(o.major ?? 0, o.minor ?? 0)} ${mode} ${own}`;
    case 'fifo':
      return `p ${mode} ${own}`;
    default:
      return 'absent';
  }
}

function diskSig(full: string, st: fs.Stats): string {
  const own = `${st.uid}:${st.gid}`;
  const mode = (st.mode & 0o7777).toString(8);
  if (st.isFile()) return `f ${fileSha(full, st)} ${mode} ${own}`;
  if (st.isDirectory()) return `d ${mode} ${own}`;
  if (st.isSymbolicLink()) return `l ${fs.readlinkSync(full)} ${own}`;
  if (st.isCharacterDevice()) return `c ${st.rdev} ${mode} ${own}`;
  if (st.isBlockDevice()) return `b ${st.rdev} ${mode} ${own}`;
  if (st.isFIFO()) return `p ${mode} ${own}`;
  return `s ${mode} ${own}`;
}

class Model {
  readonly byPath = new Map<string, FileObject>();
  readonly history = new Map<string, Set<string>>();
  readonly implicitDirs = new Set<string>(['var', 'var/lib', 'var/lib/wwruntime']);
  clock: number;
  constructor(readonly objs: FileObject[]) {
    this.clock = Math.max(...objs.map((o) => o.timestamp));
    for (const o of objs) {
      const rel = o.path.slice(1);
      this.byPath.set(rel, o);
      this.publish(o);
      const parts = rel.split('/');
      for (let i = 1; i < parts.length; i++) this.implicitDirs.add(parts.slice(0, i).join('/'));
    }
    for (const rel of this.byPath.keys()) this.implicitDirs.delete(rel);
  }
  publish(o: FileObject): void {
    const rel = o.path.slice(1);
    let h = this.history.get(rel);
    if (!h) this.history.set(rel, (h = new Set()));
    h.add(wantSig(o));
  }
  get mark(): number {
    return Math.max(...this.objs.map((o) => o.timestamp));
  }
}

/** Changes k objects the way an administrator would: new content, mode, owner, link target, device number. */
function mutate(rng: Rng, model: Model, pool: Buffer, k: number): void {
  const candidates = model.objs.filter((o) => o.type !== 'dir' && o.type !== 'socket');
  for (let i = 0; i < k; i++) {
    const o = rng.pick(candidates);
    switch (o.type) {
      case 'file': {
        const old = o.content as Buffer;
        const r = rng.float();
        if (r < 0.3 && old.length > 0) {
          const b = Buffer.from(old); // one byte changed somewhere: the compare-while-downloading path
          b[rng.int(b.length)] ^= 1 + rng.int(255);
          o.content = b;
        } else if (r < 0.4 && old.length > 1) {
          o.content = old.subarray(0, rng.int(old.length)); // a strict prefix of what is there
        } else if (r < 0.5) {
          o.content = Buffer.concat([old, slice(rng, pool, rng.int(4096))]);
        } else if (r < 0.75) {
          o.content = slice(rng, pool, Math.min(pool.length, old.length)); // same size, new bytes
        }
        if (rng.chance(0.35)) o.mode = rng.pick(FILE_MODES);
        if (rng.chance(0.2)) [o.uid, o.gid] = rng.pick(OWNERS);
        break;
      }
      case 'link':
        o.content = `/target/${o.id}/v${rng.int(1e6)}`;
        if (rng.chance(0.2)) [o.uid, o.gid] = rng.pick(OWNERS);
        break;
      case 'char':
      case 'block':
        o.minor = rng.int(250);
        if (rng.chance(0.3)) o.mode = rng.pick([0o600, 0o660, 0o666]);
        break;
      case 'fifo':
        o.mode = rng.pick([0o600, 0o620, 0o666]);
        break;
    }
    o.timestamp = ++model.clock;
    model.publish(o);
  }
}

interface TreeCheck {
  /** Object paths in a state no published version has (partial content, wrong mode/owner/type). */
  bad: string[];
  /** Anything else wrong: unexpected entries, missing objects (final only), a bad mark. */
  other: string[];
  temps: { private: number; other: number; names: string[] };
  /** Directory objects still private (0700 root:root, as created before their mode is set). */
  privateDirs: number;
}

function checkTree(root: string, model: Model, final: boolean): TreeCheck {
  const res: TreeCheck = { bad: [], other: [], temps: { private: 0, other: 0, names: [] }, privateDirs: 0 };
  const seen = new Set<string>();
  for (const { rel, st } of walk(root)) {
    const full = join(root, rel);
    const o = model.byPath.get(rel);
    if (o) {
      seen.add(rel);
      const sig = diskSig(full, st);
      if (final) {
        if (sig !== wantSig(o)) res.bad.push(`${rel}: ${sig} != ${wantSig(o)}`);
      } else if (!model.history.get(rel)!.has(sig)) {
        // A directory is made 0700, then given its owner, then its mode: either private state may meet a kill.
        if (o.type === 'dir' && (sig === 'd 700 0:0' || sig === `d 700 ${o.uid}:${o.gid}`)) res.privateDirs++;
        else res.bad.push(`${rel}: ${sig} is no published version`);
      }
      continue;
    }
    if (model.implicitDirs.has(rel)) {
      if (!st.isDirectory()) res.other.push(`${rel}: parent directory is not a directory`);
      continue;
    }
    if (rel === 'var/lib/wwruntime/wwgetfiles_timestamp') {
      const text = fs.readFileSync(full, 'utf8');
      if (!/^\d+\n$/.test(text) || (st.mode & 0o7777) !== 0o644 || st.uid !== 0)
        res.other.push(`mark: ${JSON.stringify(text)} mode ${(st.mode & 0o777).toString(8)}`);
      else if (final && Number(text) !== model.mark) res.other.push(`mark ${text.trim()} != ${model.mark}`);
      continue;
    }
    if (rel === 'var/lib/wwruntime/status') {
      if (!st.isDirectory()) res.other.push(`${rel}: not a directory`);
      continue;
    }
    if (rel === 'var/lib/wwruntime/status/wwgetfiles.json') {
      // The run record (issue 18): whatever the kill hit, a whole record, never half of one.
      const why = parseRecord(fs.readFileSync(full, 'utf8'), 'wwgetfiles');
      if (typeof why === 'string') res.other.push(`run record: ${why}`);
      continue;
    }
    const base = rel.slice(rel.lastIndexOf('/') + 1);
    if (TEMP_RE.test(base)) {
      if (st.isFile() && (st.mode & 0o7777) === 0o600 && st.uid === 0) res.temps.private++;
      else res.temps.other++;
      res.temps.names.push(`${rel} (${diskSig(full, st).split(' ')[0]} ${(st.mode & 0o7777).toString(8)})`);
      if (final) res.other.push(`stale temporary ${rel}`);
      continue;
    }
    res.other.push(`unexpected ${rel}`);
  }
  if (final) {
    for (const [rel, o] of model.byPath) {
      if (o.type !== 'socket' && !seen.has(rel)) res.other.push(`missing ${rel}`);
    }
  }
  return res;
}

// ---------------------------------------------------------------------------

function wipe(dir: string): void {
  for (const n of fs.readdirSync(dir)) fs.rmSync(join(dir, n), { recursive: true, force: true });
}

export async function sweepFiles(o: SweepOptions): Promise<Figures> {
  const log = o.log ?? (() => {});
  const rng = new Rng(o.seed);
  const work = fs.mkdtempSync(join(tmpdir(), 'ww-crash-files-'));
  const root = join(work, 'root');
  const sysroot = join(work, 'sysroot');
  fs.mkdirSync(root);
  fs.mkdirSync(sysroot);
  const pool = Buffer.concat([randomBytes(o.maxBytes), randomBytes(64 * 1024)]);
  const model = new Model(buildObjects(rng, o.objects, o.maxBytes, pool));
  const fixture: Fixture = { nodes: [{ hwaddr: HW, name: 'n0001', fileIds: model.objs.map((x) => x.id) }], files: model.objs };
  const m: RunningMaster = await startMaster(fixture, { privilegedPorts: true });
  const env = { WWMASTER: m.address, WWINIT_HWADDR: HW, NEWROOT: root };
  const args = ['--sysroot', sysroot, '--no-delay', '--timeout', '20', '--attempts', '3', '--max-wait', '5'];
  const f = new Figures(`crash sweep: wwgetfiles (${o.objects} objects, every type, files up to ${o.maxBytes / MiB} MiB, seed ${o.seed})`);
  const totalBytes = model.objs.reduce((s, x) => s + (x.type === 'file' ? (x.content as Buffer).length : 0), 0);
  const c = {
    kills: 0,
    runs: 0,
    lateKills: 0,
    badStates: 0,
    staleLock: 0,
    rerunFailed: 0,
    finalDiffers: 0,
    tempsPrivate: 0,
    tempsOther: 0,
    tempsAfterRerun: 0,
    privateDirs: 0,
    otherAfterKill: 0,
    rerunMs: [] as number[],
  };
  const details: string[] = [];
  const t0 = Date.now();
  try {
    // Calibrate: a clean full install, and an incremental one.
    const full = await start(bin('wwgetfiles'), args, env).done;
    c.runs++;
    if (full.code !== 0) throw new Error(`calibration run failed: ${full.stderr}`);
    const calib = checkTree(root, model, true);
    if (calib.bad.length || calib.other.length) throw new Error(`calibration tree wrong:\n${[...calib.bad, ...calib.other].join('\n')}`);
    mutate(rng, model, pool, 10);
    const inc = await start(bin('wwgetfiles'), args, env).done;
    c.runs++;
    if (inc.code !== 0) throw new Error(`calibration run failed: ${inc.stderr}`);
    const window = { fresh: full.ms, incremental: Math.max(inc.ms, 150) };
    log(`calibrated: full install ${full.ms.toFixed(0)} ms (${(totalBytes / MiB).toFixed(1)} MiB), incremental ${inc.ms.toFixed(0)} ms`);

    for (let i = 0; c.kills < o.kills; i++) {
      const fresh = i % 6 === 0;
      if (fresh) wipe(root);
      else mutate(rng, model, pool, 1 + rng.int(12));
      const killAt = rng.float() * (fresh ? window.fresh : window.incremental) * 1.1;
      const p = start(bin('wwgetfiles'), args, env);
      const timer = setTimeout(() => p.kill(), killAt);
      const r = await p.done;
      clearTimeout(timer);
      c.runs++;
      if (r.signal === 'SIGKILL') c.kills++;
      else c.lateKills++;
      const after = checkTree(root, model, false);
      c.badStates += after.bad.length;
      c.otherAfterKill += after.other.length;
      c.tempsPrivate += after.temps.private;
      c.tempsOther += after.temps.other;
      c.privateDirs += after.privateDirs;
      if (after.bad.length || after.other.length)
        details.push(`after kill ${c.kills} at ${killAt.toFixed(0)} ms: ${[...after.bad, ...after.other].slice(0, 5).join('; ')}`);

      const n = await start(bin('wwgetfiles'), args, env).done;
      c.runs++;
      c.rerunMs.push(n.ms);
      if (n.code === 1) c.staleLock++;
      else if (n.code !== 0) c.rerunFailed++;
      const fin = checkTree(root, model, true);
      c.badStates += fin.bad.length;
      c.tempsAfterRerun += fin.temps.private + fin.temps.other;
      if (fin.bad.length || fin.other.length || n.code !== 0) {
        c.finalDiffers++;
        details.push(
          `re-run after kill ${c.kills} (exit ${n.code}): ${[...fin.bad, ...fin.other].slice(0, 5).join('; ')} ${n.code ? n.stderr.slice(-300) : ''}`,
        );
      }
      if (c.kills % 50 === 0 && r.signal === 'SIGKILL')
        log(`  ${c.kills} kills, ${c.runs} runs, ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    }
  } finally {
    await m.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
  f.add('kills (SIGKILL at a random moment of a run)', c.kills);
  f.add('runs (killed runs, normal re-runs, calibration)', c.runs);
  f.add('runs that finished before their kill moment (not counted as kills)', c.lateKills);
  f.add('objects found partially written or with a wrong type/mode/owner (after kills and re-runs)', c.badStates, true);
  f.add('stale-lock blocks (re-run exited 1)', c.staleLock, true);
  f.add('re-runs that failed otherwise (exit not 0)', c.rerunFailed, true);
  f.add('re-runs whose final tree differs from the expected tree', c.finalDiffers, true);
  f.add('other anomalies after kills (unexpected entries, bad mark)', c.otherAfterKill, true);
  f.add('temporary files left by kills, private (0600 root)', c.tempsPrivate);
  f.add('temporary entries left by kills, other (mode already final, links, devices)', c.tempsOther);
  f.add('temporary entries left after the re-run', c.tempsAfterRerun, true);
  f.add('directory objects left private (0700, root or its owner) by a kill, fixed by the re-run', c.privateDirs);
  const sorted = [...c.rerunMs].sort((a, b) => a - b);
  f.add('re-run time, median ms', sorted[sorted.length >> 1] ?? 0);
  f.add('elapsed s', (Date.now() - t0) / 1000);
  for (const d of details.slice(0, 10)) log(`  detail: ${d}`);
  return f;
}

// ---------------------------------------------------------------------------
// wwgetvnfs --target

export async function sweepVnfs(o: {
  kills: number;
  files: number;
  bigBytes: number;
  seed: number;
  log?: (l: string) => void;
}): Promise<Figures> {
  const log = o.log ?? (() => {});
  const rng = new Rng(o.seed);
  const work = fs.mkdtempSync(join(tmpdir(), 'ww-crash-vnfs-'));
  const src = join(work, 'src');
  const target = join(work, 'target');
  const sysroot = join(work, 'sysroot');
  fs.mkdirSync(src);
  fs.mkdirSync(sysroot);
  makeTree(src, { bigBytes: o.bigBytes });
  // Bulk: many small files in many directories, and incompressible large ones (the download takes a while).
  for (let i = 0; i < o.files; i++) {
    const d = join(src, 'usr/share/bulk', `d${i % 40}`);
    fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(join(d, `f${i}`), randomBytes(rng.int(8192)));
    fs.chmodSync(join(d, `f${i}`), rng.pick([0o644, 0o600, 0o755, 0o4755]));
  }
  fs.writeFileSync(join(src, 'usr/lib/random1.bin'), randomBytes(o.bigBytes));
  fs.writeFileSync(join(src, 'usr/lib/random2.bin'), randomBytes(o.bigBytes >> 1));
  for (const d of fs.readdirSync(join(src, 'usr/share/bulk'))) fs.utimesSync(join(src, 'usr/share/bulk', d), 1_600_000_000, 1_600_000_000);
  fs.utimesSync(join(src, 'usr/share/bulk'), 1_600_000_000, 1_600_000_000);
  fs.utimesSync(join(src, 'usr/share'), 1_600_000_000, 1_600_000_000);
  fs.utimesSync(join(src, 'usr/lib'), 1_600_000_000, 1_600_000_000);
  fs.utimesSync(join(src, 'usr'), 1_600_000_000, 1_600_000_000);
  const want = snapshot(src);
  const image = join(work, 'image.gz');
  fs.writeFileSync(image, gzipSync(makeArchive(src, 'cpio-newc'), { level: 1 }));
  const fixture: Fixture = { nodes: [{ hwaddr: HW, name: 'n0001', vnfs: 'img' }], files: [], vnfs: { img: { image } } };
  const m = await startMaster(fixture, { privilegedPorts: true });
  const env = { WWMASTER: m.address, WWINIT_HWADDR: HW };
  const args = ['--sysroot', sysroot, '--target', target, '--timeout', '20', '--attempts', '3', '--max-wait', '5'];
  const f = new Figures(
    `crash sweep: wwgetvnfs --target (${want.size} entries, ${(fs.statSync(image).size / MiB).toFixed(1)} MiB cpio newc image, seed ${o.seed})`,
  );
  const c = {
    kills: 0,
    runs: 0,
    lateKills: 0,
    staleLock: 0,
    rerunFailed: 0,
    finalDiffers: 0,
    partialAfterKill: 0,
    tempsAfterKill: 0,
    tempsAfterRerun: 0,
    outside: 0,
    markedAfterKill: 0,
    lookedCompleteAfterKill: 0,
    partialFilesAfterKill: 0,
    markerAfterRerun: 0,
  };
  const details: string[] = [];
  const t0 = Date.now();
  const outsideBefore = [...fs.readdirSync(work), 'target'].sort().join(',');
  const MARKER = '.wwgetvnfs-incomplete';
  // fs/temp.ts's names (`.NAME.ww<hex>`), and those older versions used.
  const isTemp = (k: string) => /(^|\/)(\.wwgetvnfs\.\d+\.\d+|\.[^/]+\.ww(?:getvnfs)?[0-9a-f]{16})$/.test(k);
  try {
    const calib = await start(bin('wwgetvnfs'), args, env).done;
    c.runs++;
    if (calib.code !== 0) throw new Error(`calibration run failed: ${calib.stderr}`);
    const d0 = diffSnapshots(want, snapshot(target));
    if (d0.length) throw new Error(`calibration tree wrong:\n${d0.slice(0, 20).join('\n')}`);
    log(`calibrated: unpack ${calib.ms.toFixed(0)} ms`);
    for (let i = 0; c.kills < o.kills; i++) {
      if (i % 3 === 0) fs.rmSync(target, { recursive: true, force: true }); // else: unpack over the previous result
      const killAt = rng.float() * calib.ms * 1.1;
      const p = start(bin('wwgetvnfs'), args, env);
      const timer = setTimeout(() => p.kill(), killAt);
      const r = await p.done;
      clearTimeout(timer);
      c.runs++;
      if (r.signal === 'SIGKILL') c.kills++;
      else c.lateKills++;
      if (fs.existsSync(target)) {
        // Cheap look (no hashing): entries missing or not yet of the right type, size and mode.
        const seen = new Set<string>();
        let partial = 0;
        for (const { rel, st } of walk(target)) {
          if (isTemp(rel)) {
            c.tempsAfterKill++;
            continue;
          }
          if (rel === MARKER) continue;
          seen.add(rel);
          const w = want.get(rel);
          const type = st.isFile()
            ? 'file'
            : st.isDirectory()
              ? 'directory'
              : st.isSymbolicLink()
                ? 'symlink'
                : st.isFIFO()
                  ? 'fifo'
                  : st.isCharacterDevice()
                    ? 'char'
                    : 'block';
          // A regular file at its final name is written whole (temporary, then rename): never shorter.
          // Not checked: the earlier names of a cpio hard-link set, empty until the name with the data.
          if (w?.type === 'file' && !w.names && type === 'file' && w.size !== st.size) c.partialFilesAfterKill++;
          if (!w || w.type !== type || (type === 'file' && w.size !== st.size) || (type !== 'symlink' && w.mode !== (st.mode & 0o7777)))
            partial++;
        }
        for (const k of want.keys()) if (k !== '.' && !seen.has(k)) partial++;
        c.partialAfterKill += partial;
        // Issue 16.2: a target that is not complete must never look complete. Either it has no
        // sbin/init or it still has the marker; a kill after the marker went found it complete.
        const marked = fs.lstatSync(join(target, MARKER), { throwIfNoEntry: false })?.isFile() === true;
        if (marked) c.markedAfterKill++;
        else if (fs.existsSync(join(target, 'sbin/init'))) {
          const differs = diffSnapshots(want, snapshot(target));
          if (differs.length > 0) {
            c.lookedCompleteAfterKill++;
            details.push(
              `after kill ${c.kills} at ${killAt.toFixed(0)} ms: sbin/init there, no marker, yet ${differs.length} entries differ (${differs[0].slice(0, 120)})`,
            );
          }
        }
      }
      const n = await start(bin('wwgetvnfs'), args, env).done;
      c.runs++;
      if (n.code === 1) c.staleLock++;
      else if (n.code !== 0) c.rerunFailed++;
      const got = snapshot(target);
      if (got.has(MARKER)) c.markerAfterRerun++;
      const temps = [...got.keys()].filter(isTemp);
      c.tempsAfterRerun += temps.length;
      for (const k of temps) got.delete(k);
      const d = diffSnapshots(want, got);
      if (d.length || n.code !== 0) {
        c.finalDiffers++;
        details.push(
          `re-run after kill ${c.kills} at ${killAt.toFixed(0)} ms (exit ${n.code}): ${d.slice(0, 4).join('; ')} ${n.code ? n.stderr.slice(-300) : ''}`,
        );
      }
      if (c.kills % 50 === 0 && r.signal === 'SIGKILL') log(`  ${c.kills} kills, ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    }
    if (fs.readdirSync(work).sort().join(',') !== outsideBefore) c.outside++;
  } finally {
    await m.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
  f.add('kills (SIGKILL at a random moment of an unpack)', c.kills);
  f.add('runs', c.runs);
  f.add('runs that finished before their kill moment (not counted as kills)', c.lateKills);
  f.add('entries differing from the image right after a kill (allowed: partial tree), total', c.partialAfterKill);
  f.add('temporary files (.NAME.ww<hex>) left by kills', c.tempsAfterKill);
  f.add('kills that left the target marked incomplete (.wwgetvnfs-incomplete)', c.markedAfterKill);
  f.add('kills that left an incomplete target looking complete (sbin/init, no marker)', c.lookedCompleteAfterKill, true);
  f.add('regular files (not hard-linked) at their final name with a wrong size after a kill (partial data)', c.partialFilesAfterKill, true);
  f.add('re-runs that left the marker behind', c.markerAfterRerun, true);
  f.add('stale-lock blocks (re-run exited 1)', c.staleLock, true);
  f.add('re-runs that failed (exit not 0)', c.rerunFailed, true);
  f.add('re-runs whose unpacked tree differs from the image (stale temporaries aside)', c.finalDiffers, true);
  f.add('stale temporaries (.NAME.ww<hex>) present after re-runs (summed over re-runs)', c.tempsAfterRerun, true);
  f.add('entries created beside the target (outside it)', c.outside, true);
  f.add('elapsed s', (Date.now() - t0) / 1000);
  for (const d of details.slice(0, 10)) log(`  detail: ${d}`);
  return f;
}

export async function main(quick: boolean, argv: string[] = []): Promise<Figures[]> {
  const opt = (name: string, dflt: number) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? Number(argv[i + 1]) : dflt;
  };
  const only = argv.includes('--only') ? argv[argv.indexOf('--only') + 1] : '';
  const seed = opt('seed', Date.now() % 1e9);
  const log = (l: string) => console.log(l);
  if (process.getuid?.() !== 0) throw new Error('the crash sweep runs as root (owners, devices, privileged ports)');
  const out: Figures[] = [];
  if (only !== 'vnfs') {
    out.push(
      await sweepFiles({
        kills: opt('kills', quick ? 40 : 300),
        objects: quick ? 200 : 200,
        maxBytes: quick ? 4 * MiB : 16 * MiB,
        seed,
        log,
      }),
    );
  }
  if (only !== 'files') {
    out.push(
      await sweepVnfs({
        kills: opt('kills', quick ? 30 : 300),
        files: quick ? 300 : 800,
        bigBytes: quick ? 2 * MiB : 4 * MiB,
        seed: seed + 1,
        log,
      }),
    );
  }
  return out;
}

cliMain(import.meta.url, main);
