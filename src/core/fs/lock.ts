// One wwgetfiles per root at a time, with a lock that
// - the kernel releases when its holder dies, however it dies (upstream defect 6.5: a stale lock
//   file stopped wwgetfiles forever on many nodes), and
// - only the tool's own user can hold: an unprivileged user must not be able to stop root's updates
//   by holding the lock first (an abstract socket name, computable and without permissions, could be).
// Node has no flock(2) and no SO_PEERCRED, so: each instance binds a listening Unix socket under a
// unique name in a directory only its user can enter (root's: /run/wwruntime, mode 0700), then looks
// at the other sockets for the same root there. One that accepts a connection is a live holder; one
// that refuses has no process behind it (the kernel closed it) and is removed. Names are never reused,
// so removing a refusing one can never remove a live lock. Binding before looking makes two starting
// instances see each other: neither runs alone unseen.
import { unlinkSync } from 'node:fs';
import { lstat, mkdir, readdir, stat, unlink } from 'node:fs/promises';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { onInterrupt } from './cleanup.ts';
import { WwError, describe } from '../errors.ts';
import { lazyCrypto } from '../lazy.ts';

export interface Lock {
  release(): Promise<void>;
}

/** Where the tool's user keeps its locks: root in /run (RAM, emptied at boot), another user in /tmp. */
export function lockDir(uid: number): string {
  return uid === 0 ? '/run/wwruntime' : `/tmp/wwruntime-${uid}`;
}

/** Creates `path` (mode 0700) if missing and refuses one that is not a real directory of `uid` closed to others. */
export async function privateDir(path: string, uid: number): Promise<void> {
  for (let i = 0; i < 2; i++) {
    try {
      await mkdir(path, { mode: 0o700 });
      break;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') break;
      if (code === 'ENOENT' && i === 0) {
        await mkdir(dirname(path), { mode: 0o755 }).catch(() => {}); // /run in a bare initramfs
        continue;
      }
      throw new WwError('WW_LOCK_DIR', `cannot create the lock directory ${path}: ${describe(err)}`);
    }
  }
  const st = await lstat(path);
  const wrong = !st.isDirectory()
    ? 'not a directory'
    : st.uid !== uid
      ? `owned by uid ${st.uid}`
      : (st.mode & 0o077) !== 0
        ? `mode ${(st.mode & 0o777).toString(8)}`
        : null;
  if (wrong)
    throw new WwError('WW_LOCK_DIR', `refusing the lock directory ${path}: ${wrong} (it must be a directory of uid ${uid}, mode 0700)`);
}

function listen(path: string): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((c) => c.destroy());
    server.once('error', reject);
    server.listen({ path }, () => {
      server.unref(); // holding the lock must not keep the process alive
      resolve(server);
    });
  });
}

/** Whether a process holds the socket at `path`: connected (or unsure) yes; refused or gone no. */
function held(path: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect({ path });
    const done = (live: boolean) => {
      clearTimeout(timer);
      c.destroy();
      resolve(live);
    };
    const timer = setTimeout(() => done(true), timeoutMs);
    c.once('connect', () => done(true));
    c.once('error', (err: NodeJS.ErrnoException) => done(err.code !== 'ECONNREFUSED' && err.code !== 'ENOENT'));
  });
}

async function closeAndRemove(server: net.Server, path: string): Promise<void> {
  await unlink(path).catch(() => {});
  await new Promise<void>((r) => server.close(() => r()));
}

export interface LockOptions {
  /** The directory of lockDir(); tests pass their own. */
  dir: string;
  uid: number;
  /** Another live holder seen: tries again this many times after a short random pause (two starting together). */
  retries?: number;
  probeTimeoutMs?: number;
}

/**
 * Takes the lock for `purpose` on the directory tree at `root`, or returns null when
 * another live process holds it. The tree is named by device and inode, so the same
 * tree reached through a bind mount or a symbolic link is the same lock.
 */
export async function tryLock(purpose: string, root: string, o: LockOptions): Promise<Lock | null> {
  await privateDir(o.dir, o.uid);
  const st = await stat(root, { bigint: true });
  const key = `${purpose}-${st.dev.toString(16)}-${st.ino.toString(16)}.`;
  for (let round = 0; ; round++) {
    const mine = join(o.dir, `${key}${lazyCrypto().randomBytes(8).toString('hex')}`);
    const server = await listen(mine).catch((err) => {
      throw new WwError('WW_IO', `cannot create the lock ${mine}: ${describe(err)}`);
    });
    let others = 0;
    for (const name of await readdir(o.dir)) {
      const path = join(o.dir, name);
      if (!name.startsWith(key) || path === mine) continue;
      if (await held(path, o.probeTimeoutMs ?? 2000)) others++;
      else await unlink(path).catch(() => {}); // left by a holder that died: no process can answer there again
    }
    if (others === 0) {
      // A signal ends the process at once (cleanup.ts): the socket's name goes with it, as release() would do.
      const cancel = onInterrupt(() => unlinkSync(mine));
      return {
        release: () => {
          cancel();
          return closeAndRemove(server, mine);
        },
      };
    }
    await closeAndRemove(server, mine);
    if (round >= (o.retries ?? 2)) return null;
    await new Promise((r) => setTimeout(r, 20 + Math.floor(Math.random() * 80)));
  }
}
