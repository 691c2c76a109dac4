// What the test master serves: nodes, file objects (with the master's list line and content of
// each), scripts and VNFS images, and the sample fixtures the tests and benches start from.
// The file-type table below (tmode) is the test master's OWN, an oracle ON PURPOSE: the master must
// not import the product's parsers or tables (src/), so that the product is checked against an
// independent reading of the protocol (PROTOCOL section 2), not against itself.
import { HWADDR } from '../node.ts';
import { makeVnfsImage } from './cpio.ts';

export type FileType = 'file' | 'dir' | 'link' | 'block' | 'char' | 'fifo' | 'socket';

export interface FileObject {
  id: number;
  name: string;
  type: FileType;
  /** Permission bits including setuid/setgid/sticky, e.g. 0o644. */
  mode: number;
  uid: number;
  gid: number;
  timestamp: number;
  path: string;
  /** Regular file bytes; link target for 'link'; origin path for 'dir' (default: path); ignored for fifo/socket. */
  content?: string | Buffer;
  major?: number;
  minor?: number;
  /** Scripts: only 'shell' objects are concatenated into /WW/script. */
  format?: 'data' | 'shell';
}

export interface NodeFixture {
  /** Stored lower case; matching is case-sensitive like the real datastore. */
  hwaddr: string;
  name: string;
  /** The node's addresses; when set and checkSourceIp is on, other source IPs get 403. */
  ips?: string[];
  /** Extra nodeconfig attributes; a key without the WW prefix gets one (NORUNTIMESERVICES -> WWNORUNTIMESERVICES). */
  config?: Record<string, string>;
  fileIds?: number[];
  /** e.g. { runtime: [7], pre: [8] }: file object ids per script type. */
  scripts?: { [type: string]: number[] };
  /** Name of a VNFS image in fixture.vnfs. */
  vnfs?: string;
  disabled?: boolean;
}

export interface Fixture {
  nodes: NodeFixture[];
  files: FileObject[];
  /** image: the compressed image bytes, or the path of a file holding them (streamed, never read whole). */
  vnfs?: Record<string, { image: Buffer | string }>;
}

export const toBuffer = (c: string | Buffer | undefined): Buffer =>
  c === undefined ? Buffer.alloc(0) : Buffer.isBuffer(c) ? c : Buffer.from(c);

/** 'd', 'l', ... or a space for a regular file, then four octal digits. */
export function tmode(f: Pick<FileObject, 'type' | 'mode'>): string {
  const c = { file: ' ', dir: 'd', link: 'l', block: 'b', char: 'c', fifo: 'p', socket: 's' }[f.type] ?? ' ';
  return c + (f.mode & 0o7777).toString(8).padStart(4, '0');
}

/** One line of the /WW/file list. */
export function listLine(f: FileObject): string {
  return `${f.id} ${f.name} ${f.uid} ${f.gid} ${tmode(f)} ${f.timestamp} ${f.path}\n`;
}

/** What /WW/file?fileid= sends for an object (PROTOCOL 2.3, 2.7). */
export function fileContent(f: FileObject): Buffer {
  switch (f.type) {
    case 'file':
    case 'link':
      return toBuffer(f.content);
    case 'dir':
      return f.content === undefined ? Buffer.from(f.path) : toBuffer(f.content);
    case 'block':
    case 'char':
      return Buffer.from(String((f.major ?? 0) * 256 + (f.minor ?? 0)));
    default:
      return Buffer.alloc(0);
  }
}

/** A minimal bootable-looking root: sbin/init and a few files. */
export function sampleVnfsImage(): Buffer {
  return makeVnfsImage([
    { path: 'sbin', type: 'dir' },
    { path: 'sbin/init', mode: 0o755, content: '#!/bin/sh\necho init\n' },
    { path: 'etc', type: 'dir' },
    { path: 'etc/os-release', content: 'NAME="WW test"\n' },
    { path: 'etc/motd', type: 'link', content: 'os-release' },
    { path: 'root', type: 'dir', mode: 0o700 },
  ]);
}

/**
 * A small realistic node 'n0000' (hwaddr 00:11:22:33:44:55, ip 127.0.0.1) with
 * file objects of every type, runtime/pre/post scripts and a VNFS 'sample'.
 * Ids: 1 hosts, 2 shadow (0600), 3 dir, 4 link, 5 char device, 6 fifo, 7 empty
 * file, 8 setuid file, 9 user-owned file, 10 block device; 20 runtime shell
 * script, 21 runtime 'data' object (never part of the script), 22 pre, 23 post.
 * Timestamps are not in id order, so the list's sort is visible.
 */
export function sampleFixture(): Fixture {
  const f = (o: Omit<FileObject, 'uid' | 'gid'> & Partial<Pick<FileObject, 'uid' | 'gid'>>): FileObject => ({ uid: 0, gid: 0, ...o });
  const files: FileObject[] = [
    f({
      id: 1,
      name: 'hosts',
      type: 'file',
      mode: 0o644,
      timestamp: 1700000100,
      path: '/etc/hosts',
      content: '127.0.0.1 localhost\n10.0.0.1 master\n10.0.1.0 n0000\n',
    }),
    f({
      id: 2,
      name: 'shadow',
      type: 'file',
      mode: 0o600,
      timestamp: 1700000200,
      path: '/etc/shadow',
      content: 'root:$6$salt$hashhashhash:19000:0:99999:7:::\nbin:*:19000:0:99999:7:::\n',
    }),
    f({ id: 3, name: 'wwdir', type: 'dir', mode: 0o750, timestamp: 1700000050, path: '/etc/ww.d', content: '/etc/ww.d' }),
    f({
      id: 4,
      name: 'localtime',
      type: 'link',
      mode: 0o777,
      timestamp: 1700000300,
      path: '/etc/localtime',
      content: '/usr/share/zoneinfo/UTC',
    }),
    f({ id: 5, name: 'wwnull', type: 'char', mode: 0o666, timestamp: 1700000400, path: '/dev/wwnull', major: 1, minor: 3 }),
    f({ id: 6, name: 'wwfifo', type: 'fifo', mode: 0o620, timestamp: 1700000500, path: '/var/run/ww.fifo' }),
    f({ id: 7, name: 'empty', type: 'file', mode: 0o644, timestamp: 1700000600, path: '/etc/ww.d/empty', content: '' }),
    f({
      id: 8,
      name: 'wwsuid',
      type: 'file',
      mode: 0o4755,
      timestamp: 1700000700,
      path: '/usr/local/bin/wwsuid',
      content: '#!/bin/sh\nid\n',
    }),
    f({
      id: 9,
      name: 'profile',
      type: 'file',
      mode: 0o640,
      uid: 1000,
      gid: 100,
      timestamp: 1700000800,
      path: '/home/user/.profile',
      content: 'export PATH=$HOME/bin:$PATH\n',
    }),
    f({ id: 10, name: 'wwblk', type: 'block', mode: 0o660, gid: 6, timestamp: 1700000900, path: '/dev/wwblk', major: 8, minor: 1 }),
    f({
      id: 20,
      name: 'runtime.sh',
      type: 'file',
      mode: 0o755,
      timestamp: 1700001000,
      path: '/tmp/runtime.sh',
      format: 'shell',
      content: '#!/bin/sh\necho runtime one\n',
    }),
    f({
      id: 21,
      name: 'runtime.dat',
      type: 'file',
      mode: 0o644,
      timestamp: 1700001000,
      path: '/tmp/runtime.dat',
      format: 'data',
      content: 'NOT A SCRIPT\n',
    }),
    f({
      id: 22,
      name: 'pre.sh',
      type: 'file',
      mode: 0o755,
      timestamp: 1700001000,
      path: '/tmp/pre.sh',
      format: 'shell',
      content: 'echo pre\n',
    }),
    f({
      id: 23,
      name: 'post.sh',
      type: 'file',
      mode: 0o755,
      timestamp: 1700001000,
      path: '/tmp/post.sh',
      format: 'shell',
      content: 'echo post\n',
    }),
    f({
      id: 24,
      name: 'runtime2.sh',
      type: 'file',
      mode: 0o755,
      timestamp: 1700001000,
      path: '/tmp/runtime2.sh',
      format: 'shell',
      content: 'echo runtime two\n',
    }),
  ];
  return {
    nodes: [
      {
        hwaddr: HWADDR,
        name: 'n0000',
        ips: ['127.0.0.1'],
        config: { WWCLUSTER: 'cluster', WWDOMAIN: 'example.test', WWGROUPS: 'compute,test', WWFQDN: 'n0000.example.test' },
        fileIds: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
        scripts: { runtime: [20, 21, 24], pre: [22], post: [23] },
        vnfs: 'sample',
      },
    ],
    files,
    vnfs: { sample: { image: sampleVnfsImage() } },
  };
}

/**
 * Addition: a fixture of `nodes` nodes sharing `files` regular file objects
 * (ids 1..files), for benchmarks. Node i: name n%04d, hwaddr 02:00:00:00:HH:LL.
 */
export function bigFixture(nodes: number, files: number, bytesPerFile = 100): Fixture {
  const objs: FileObject[] = [];
  for (let i = 1; i <= files; i++) {
    objs.push({
      id: i,
      name: `f${i}`,
      type: 'file',
      mode: 0o644,
      uid: 0,
      gid: 0,
      timestamp: 1700000000 + i,
      path: `/opt/bench/d${i % 32}/f${i}`,
      content: Buffer.alloc(bytesPerFile, 97 + (i % 26)),
    });
  }
  const ids = objs.map((o) => o.id);
  const hx = (n: number) => n.toString(16).padStart(2, '0');
  return {
    nodes: Array.from({ length: nodes }, (_, i) => ({
      hwaddr: `02:00:00:00:${hx((i >> 8) & 255)}:${hx(i & 255)}`,
      name: `n${String(i).padStart(4, '0')}`,
      fileIds: ids,
    })),
    files: objs,
  };
}
