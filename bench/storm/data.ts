// The storm's data set: n nodes that all carry the same ~203 file objects (PROTOCOL 2.8 measured
// with n0001's 203), as the rig stores them in MariaDB, and what a node must hold afterwards.
//
// Objects: the regular files, the directory and the link of test/helpers/master/fixtures.ts's sample fixture
// (hosts, shadow, /etc/ww.d, localtime, an empty file, a user's file; not its setuid file), then generated
// ones in the shape of a compute node's provisioned set: a few directories first (lower timestamps,
// so upstream's `mkdir -m MODE -p` makes them before anything inside them), some links, two
// templates (`%{name}`, `%{domain}`: the master expands them per node), and regular files of
// mixed sizes (most 60 B - 8 KiB, some 16-128 KiB, a few 256 KiB - 1 MiB) with mixed owners and modes.
import { createHash } from 'node:crypto';
import { sampleFixture, type FileObject } from '../../test/helpers/master/fixtures.ts';
import { Rng } from '../reliability/common.ts';

export const OBJECTS = 203;
export const DOMAIN = 'storm.test';
export const CLUSTER = 'storm';

export interface StormNode {
  index: number;
  name: string;
  hwaddr: string;
  attrs: Record<string, string>;
}

/** Node i (1-based): n0001, 02:00:00:00:00:01, ... (lower case: the datastore matches case-sensitively). */
export function stormNode(i: number): StormNode {
  const hx = (n: number) => n.toString(16).padStart(2, '0');
  const name = `n${String(i).padStart(4, '0')}`;
  const hwaddr = `02:00:00:00:${hx((i >> 8) & 255)}:${hx(i & 255)}`;
  return {
    index: i,
    name,
    hwaddr,
    attrs: { NAME: name, CLUSTER, DOMAIN, FQDN: `${name}.${DOMAIN}`, GROUPS: 'compute,storm', HWADDR: hwaddr },
  };
}

const OWNERS: [number, number][] = [
  [0, 0],
  [0, 0],
  [0, 0],
  [0, 0],
  [990, 990],
  [991, 991],
  [1000, 100],
  [0, 42],
];
const MODES = [0o644, 0o644, 0o644, 0o600, 0o640, 0o755, 0o444, 0o400];
const WORDS = [
  'node',
  'slurm',
  'munge',
  'compute',
  'ib0',
  'eth0',
  'mtu',
  'partition',
  'default',
  'yes',
  'no',
  'lustre',
  'nfs',
  'home',
  'scratch',
  'limit',
  'memlock',
  'unlimited',
];

function text(rng: Rng, bytes: number): Buffer {
  const parts: string[] = [];
  let n = 0;
  while (n < bytes) {
    const words = 2 + rng.int(8);
    const line =
      Array.from({ length: words }, () => rng.pick(WORDS) + (rng.chance(0.3) ? String(rng.int(1000)) : '')).join(
        rng.chance(0.5) ? ' ' : '=',
      ) + '\n';
    parts.push(line);
    n += line.length;
  }
  return Buffer.from(parts.join('').slice(0, bytes));
}

/** The 203 objects, deterministic for a seed. */
export function stormObjects(seed = 17): FileObject[] {
  const rng = new Rng(seed);
  // No setuid/setgid object: upstream's loop runs chown after chmod, and chown clears those bits
  // (measured: 4755 ends 755), a defect of its own that would hide what the storm does.
  const sample = sampleFixture().files.filter((f) => ['file', 'dir', 'link'].includes(f.type) && !f.format && !(f.mode & 0o6000));
  const objs: FileObject[] = sample.map((f) => ({ ...f }));
  let id = 100;
  let ts = 1_700_010_000;
  const add = (o: Omit<FileObject, 'id' | 'timestamp'>) => objs.push({ id: ++id, timestamp: ts++, ...o });
  const dirs: [string, number, number, number][] = [
    ['/etc/slurm', 0o755, 0, 0],
    ['/etc/munge', 0o700, 990, 990],
    ['/root/.ssh', 0o700, 0, 0],
    ['/etc/sysconfig/network-scripts', 0o755, 0, 0],
    ['/var/spool/slurmd', 0o755, 991, 991],
    ['/opt/site', 0o755, 0, 0],
    ['/etc/security/limits.d', 0o755, 0, 0],
    ['/opt/site/secret', 0o750, 0, 42],
  ];
  for (const [path, mode, uid, gid] of dirs) add({ name: path.split('/').pop()!, type: 'dir', mode, uid, gid, path, content: path });
  const links: [string, string][] = [
    ['/etc/slurm/current.conf', 'slurm.conf'],
    ['/opt/site/latest', '/opt/site/v2'],
    ['/etc/mtab', '/proc/self/mounts'],
    ['/usr/local/bin/srun-wrap', '/opt/site/bin/srun'],
    ['/etc/site.conf', '../opt/site/etc/site.conf'],
  ];
  for (const [path, target] of links)
    add({ name: path.split('/').pop()!, type: 'link', mode: 0o777, uid: 0, gid: 0, path, content: target });
  add({ name: 'hostname', type: 'file', mode: 0o644, uid: 0, gid: 0, path: '/etc/hostname', content: '%{name}\n' });
  add({
    name: 'network',
    type: 'file',
    mode: 0o644,
    uid: 0,
    gid: 0,
    path: '/etc/sysconfig/network',
    content: 'NETWORKING=yes\nHOSTNAME=%{name}.%{domain}\n',
  });
  const places = [
    '/etc/slurm',
    '/etc/munge',
    '/root/.ssh',
    '/etc/sysconfig/network-scripts',
    '/var/spool/slurmd',
    '/opt/site/etc',
    '/etc/security/limits.d',
    '/opt/site/secret',
    '/etc/site',
  ];
  let k = 0;
  while (objs.length < OBJECTS) {
    k++;
    // 3 large, 12 medium, the rest small (log-uniform).
    const bytes = [7, 77, 150].includes(k)
      ? 262_144 + rng.int(786_432)
      : k % 15 === 0
        ? 16_384 + rng.int(114_688)
        : Math.round(60 * Math.exp(rng.float() * Math.log(8192 / 60)));
    const [uid, gid] = rng.pick(OWNERS);
    const dir = rng.pick(places);
    add({
      name: `f${k}`,
      type: 'file',
      mode: rng.pick(MODES),
      uid,
      gid,
      path: `${dir}/f${String(k).padStart(3, '0')}.conf`,
      content: text(rng, bytes),
    });
  }
  return objs;
}

/** What /WW/file?fileid= sends to a node for an object: templates expanded (PROTOCOL 2.3). */
export function contentFor(o: FileObject, node: StormNode): Buffer {
  const raw = o.content === undefined ? Buffer.alloc(0) : Buffer.isBuffer(o.content) ? o.content : Buffer.from(o.content);
  if (o.type !== 'file' || !raw.includes('%{')) return raw;
  return Buffer.from(
    raw.toString('latin1').replace(/%\{([^}]+)\}/g, (_m, k: string) => node.attrs[k.toUpperCase()] ?? ''),
    'latin1',
  );
}

export const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

/** The runtime script objects (PROTOCOL 2.4): a 'shell' object and a 'data' one that is never part of it. */
export function scriptObjects(): FileObject[] {
  return [
    {
      id: 5001,
      name: 'runtime.sh',
      type: 'file',
      mode: 0o755,
      uid: 0,
      gid: 0,
      timestamp: 1_700_020_000,
      path: '/tmp/runtime.sh',
      format: 'shell',
      content: '#!/bin/sh\necho "storm runtime on %{name}"\n',
    },
    {
      id: 5002,
      name: 'runtime.dat',
      type: 'file',
      mode: 0o644,
      uid: 0,
      gid: 0,
      timestamp: 1_700_020_001,
      path: '/tmp/runtime.dat',
      format: 'data',
      content: 'NOT A SCRIPT\n',
    },
  ];
}

export function totalBytes(objs: FileObject[]): number {
  return objs.reduce((s, o) => s + (o.type === 'file' ? (o.content?.length ?? 0) : 0), 0);
}
