// VNFS test material: a source tree with every entry type, archives of it made
// by the real tools (GNU cpio, bsdtar, GNU tar), and an lstat snapshot to
// compare an unpacked tree entry by entry. Tests run as root (owners, devices).
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { fileSha256, walkTree, type EntryType } from './tree.ts';

export interface TreeOptions {
  /** Names and link targets longer than ustar allows (100/155+100). Default true. */
  long?: boolean;
  /** A few extra bytes of random data in a larger file. Default 1 MiB. */
  bigBytes?: number;
}

const T0 = 1_600_000_000;

function mknod(path: string, type: 'c' | 'b' | 'p', major = 0, minor = 0): void {
  execFileSync('/usr/bin/mknod', type === 'p' ? [path, 'p'] : [path, type, String(major), String(minor)]);
}

/** Builds the tree under dir (which must exist, empty). */
export function makeTree(dir: string, o: TreeOptions = {}): void {
  const long = o.long ?? true;
  const p = (...s: string[]) => join(dir, ...s);
  const file = (rel: string, content: string | Buffer, mode = 0o644, uid = 0, gid = 0) => {
    fs.writeFileSync(p(rel), content);
    fs.chownSync(p(rel), uid, gid);
    fs.chmodSync(p(rel), mode);
  };
  for (const d of ['sbin', 'etc', 'usr', 'usr/bin', 'usr/lib', 'dev', 'run', 'tmp', 'home', 'home/user', 'ro', 'empty']) {
    fs.mkdirSync(p(d));
  }
  file('sbin/init', '#!/bin/sh\nexec /bin/sh\n', 0o755);
  file('etc/passwd', 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n');
  file('etc/shadow', 'root:*:19000:0:99999:7:::\n', 0o000, 0, 42);
  file('usr/bin/sudo', 'setuid binary\n', 0o4755);
  file('usr/bin/wall', 'setgid binary\n', 0o2755, 0, 5);
  file('usr/bin/both', 'setuid+setgid, odd owner\n', 0o6750, 123, 456);
  file('home/user/notes.txt', 'user file\n', 0o600, 1000, 1000);
  file('etc/empty.conf', '', 0o640);
  file('etc/ünïcødé name.txt', 'unicode name\n');
  file(
    'usr/lib/big.bin',
    createHash('sha512')
      .update('seed')
      .digest()
      .toString('hex')
      .repeat(Math.ceil((o.bigBytes ?? 1 << 20) / 128))
      .slice(0, o.bigBytes ?? 1 << 20),
  );
  // Hard links: a pair and a triple.
  file('usr/bin/pair-a', 'hard linked pair\n', 0o755);
  fs.linkSync(p('usr/bin/pair-a'), p('usr/bin/pair-b'));
  file('usr/lib/tri-1', 'three names\n', 0o644, 7, 8);
  fs.linkSync(p('usr/lib/tri-1'), p('usr/lib/tri-2'));
  fs.linkSync(p('usr/lib/tri-1'), p('etc/tri-3'));
  // Symbolic links: relative, absolute (dangling here), to a directory.
  fs.symlinkSync('usr/lib', p('lib'));
  fs.symlinkSync('/usr/share/zoneinfo/UTC', p('etc/localtime'));
  fs.symlinkSync('../usr/bin/sudo', p('sbin/sudo-link'));
  fs.lchownSync(p('sbin/sudo-link'), 11, 12);
  // Devices and a FIFO.
  mknod(p('dev/null'), 'c', 1, 3);
  fs.chmodSync(p('dev/null'), 0o666);
  mknod(p('dev/sda'), 'b', 8, 0);
  fs.chownSync(p('dev/sda'), 0, 6);
  fs.chmodSync(p('dev/sda'), 0o660);
  mknod(p('dev/big'), 'c', 300, 70000);
  mknod(p('run/initctl'), 'p');
  fs.chmodSync(p('run/initctl'), 0o600);
  // Directory modes: sticky, private, read-only with contents.
  fs.chmodSync(p('tmp'), 0o1777);
  fs.chownSync(p('home/user'), 1000, 1000);
  fs.chmodSync(p('home/user'), 0o700);
  file('ro/inside', 'in a read-only directory\n', 0o444);
  fs.chmodSync(p('ro'), 0o555);
  if (long) {
    const deep = p(
      'usr/share/a-rather-long-directory-name-to-pass-one-hundred-characters',
      'and-another-long-component-here-too-for-good-measure-x',
    );
    fs.mkdirSync(deep, { recursive: true });
    const longName = `${'n'.repeat(150)}.txt`;
    fs.writeFileSync(join(deep, longName), 'long path\n');
    fs.symlinkSync(`../../${'t'.repeat(140)}/target`, p('usr/long-target-link'));
  }
  // Distinct times, directories last (their contents changed their mtimes).
  let k = 0;
  const walk = (rel: string) => {
    for (const n of fs.readdirSync(p(rel)).sort()) {
      const r = rel ? `${rel}/${n}` : n;
      const st = fs.lstatSync(p(r));
      if (st.isDirectory()) walk(r);
      const t = T0 + 1000 * ++k;
      fs.lutimesSync(p(r), t, t);
    }
  };
  walk('');
  fs.utimesSync(dir, T0, T0);
}

export interface Snap {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size?: number;
  sha?: string;
  link?: string;
  rdev?: string;
  mtime: number;
  /** For files with several names: the sorted list of names sharing the inode. */
  names?: string;
}

/** snapshot()'s names of the entry types (the diff lines name them so). */
const TYPE_NAMES: Record<EntryType, string> = {
  file: 'file',
  dir: 'directory',
  link: 'symlink',
  char: 'char',
  block: 'block',
  fifo: 'fifo',
  socket: 'socket',
};

/** Every entry under dir (the root itself as '.'), keyed by relative path. */
export function snapshot(dir: string, o: { mtimeDirs?: boolean } = {}): Map<string, Snap> {
  const out = new Map<string, Snap>();
  const inodes = new Map<number, string[]>();
  for (const { rel, path: full, st: s, type: t, mode } of walkTree(dir, { self: true })) {
    const st = fs.lstatSync(full, { bigint: true });
    const type = TYPE_NAMES[t];
    const snap: Snap = { type, mode, uid: s.uid, gid: s.gid, mtime: Number(st.mtimeMs / 1000n) };
    if (type === 'file') {
      snap.size = s.size;
      snap.sha = fileSha256(full);
      if (s.nlink > 1) inodes.set(s.ino, [...(inodes.get(s.ino) ?? []), rel]);
    } else if (type === 'symlink') {
      snap.link = fs.readlinkSync(full);
      snap.mode = 0; // meaningless on Linux
    } else if (type === 'char' || type === 'block') {
      snap.rdev = `${Math.floor(s.rdev / 256) & 0xfff}:${(s.rdev & 0xff) | ((s.rdev >> 12) & 0xfff00)}`;
    } else if (type === 'directory' && o.mtimeDirs === false) {
      snap.mtime = 0;
    }
    out.set(rel, snap);
  }
  for (const names of inodes.values()) {
    const key = names.sort().join(' ');
    for (const n of names) out.get(n)!.names = key;
  }
  return out;
}

/** The differences between two snapshots, one line each (empty: identical). */
export function diffSnapshots(
  want: Map<string, Snap>,
  got: Map<string, Snap>,
  o: { skipRoot?: boolean; rootMtime?: boolean } = {},
): string[] {
  const lines: string[] = [];
  for (const [k, w0] of want) {
    if (o.skipRoot && k === '.') continue;
    let w = w0;
    let g = got.get(k);
    if (k === '.' && o.rootMtime === false && g) {
      // bsdtar sets the root's time when it meets '.', then its contents change it; we restore it at the end.
      w = { ...w, mtime: 0 };
      g = { ...g, mtime: 0 };
    }
    if (!g) {
      lines.push(`missing ${k}`);
      continue;
    }
    const a = JSON.stringify(w);
    const b = JSON.stringify(g);
    if (a !== b) lines.push(`${k}: want ${a} got ${b}`);
  }
  for (const k of got.keys()) if (!want.has(k)) lines.push(`unexpected ${k}`);
  return lines;
}

function capture(cmd: string, args: string[], cwd?: string): Buffer {
  const r = spawnSync(cmd, args, { cwd, maxBuffer: 1 << 30, stdio: ['pipe', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

export type Maker = 'cpio-newc' | 'cpio-crc' | 'bsdtar-newc' | 'bsdtar-pax' | 'bsdtar-ustar' | 'gnutar-gnu' | 'gnutar-posix';

/** An uncompressed archive of dir made by the real tool. */
export function makeArchive(dir: string, maker: Maker): Buffer {
  switch (maker) {
    case 'cpio-newc':
    case 'cpio-crc':
      // As the Warewulf master builds a VNFS: find . | cpio -o -H newc
      return capture('/bin/sh', ['-c', `find . | cpio --quiet -o -H ${maker === 'cpio-crc' ? 'crc' : 'newc'}`], dir);
    case 'bsdtar-newc':
      return capture('bsdtar', ['--format', 'newc', '-cf', '-', '-C', dir, '.']);
    case 'bsdtar-pax':
      return capture('bsdtar', ['--format', 'pax', '-cf', '-', '-C', dir, '.']);
    case 'bsdtar-ustar':
      return capture('bsdtar', ['--format', 'ustar', '-cf', '-', '-C', dir, '.']);
    case 'gnutar-gnu':
      return capture('tar', ['--format=gnu', '-cf', '-', '-C', dir, '.']);
    case 'gnutar-posix':
      return capture('tar', ['--format=posix', '-cf', '-', '-C', dir, '.']);
  }
}

/** Unpacks a (possibly compressed) archive file with bsdtar -p: the reference result. */
export function bsdtarExtract(archive: string, into: string): void {
  fs.mkdirSync(into, { recursive: true });
  capture('bsdtar', ['-xpf', archive, '-C', into]);
}
