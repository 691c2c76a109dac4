// One wwgetfiles per root at a time, with a lock the kernel releases when its
// holder dies however it dies (upstream defect 6.5: a stale lock file stopped
// wwgetfiles forever on many nodes). The lock is a listening Unix socket in the
// Linux abstract namespace: no file on disk, freed with the process.
import net from 'node:net';
import { lazyCrypto } from './lazy.ts';

export interface Lock {
  release(): Promise<void>;
}

export function lockName(purpose: string, key: string): string {
  const digest = lazyCrypto().createHash('sha256').update(key).digest('hex').slice(0, 32);
  return `\0wwruntime/${purpose}/${digest}`;
}

/** Takes the lock or returns null when another live process holds it. */
export function tryLock(purpose: string, key: string): Promise<Lock | null> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((c) => c.destroy());
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') resolve(null);
      else reject(err);
    });
    server.listen({ path: lockName(purpose, key) }, () => {
      server.unref(); // holding the lock must not keep the process alive
      resolve({ release: () => new Promise<void>((r) => server.close(() => r())) });
    });
  });
}
