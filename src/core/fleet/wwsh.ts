// Node names for the fleet report from Warewulf 3's own datastore, through `wwsh node print`
// when wwsh is on the PATH. Its lines are printf("%15s: %-16s = %s") of name, key and value, a
// `#### NAME ####...` header per node, and one DEV.HWADDR key per network device (a comma
// list, or UNDEF):
//            n0000: NAME             = n0000
//            n0000: eth0.HWADDR      = 00:11:22:33:44:55
// Optional by design: no wwsh, a wwsh that fails, hangs or prints something else leaves the
// report without names and says why in one line.
import { spawn } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

/** wwsh reads the datastore (MySQL/MariaDB, or SQLite): a few seconds on a large site. */
export const WWSH_TIMEOUT_MS = 15_000;
/** More output than 2,000 nodes print (~1 KiB each) by far. */
const MAX_OUTPUT = 64 << 20;

const LINE = /^\s*(\S+): (\S+)\s+= (.*)$/;

/** Lower-case hwaddr -> node name, from `wwsh node print` output. */
export function parseNodePrint(text: string): Map<string, string> {
  const names = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = LINE.exec(line.trimEnd());
    if (!m || !/\.HWADDR$/i.test(m[2])) continue;
    for (const hw of m[3].split(',')) {
      const h = hw.trim().toLowerCase();
      if (h && h !== 'undef' && !names.has(h)) names.set(h, m[1]);
    }
  }
  return names;
}

/** The executable `name` in the PATH given, or undefined. */
export function findOnPath(name: string, path: string | undefined): string | undefined {
  for (const dir of (path ?? '').split(delimiter)) {
    if (!dir || !isAbsolute(dir)) continue; // a relative PATH entry would run whatever the cwd holds
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      if (statSync(p).isFile()) return p;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

export type NodeNames = { names: Map<string, string> } | { names: null; why: string };

/** Runs `wwsh node print` (found on env.PATH) with a bounded wait; names, or why there are none. */
export function wwshNodeNames(env: Record<string, string | undefined>, timeoutMs = WWSH_TIMEOUT_MS): Promise<NodeNames> {
  const wwsh = findOnPath('wwsh', env.PATH);
  if (!wwsh) return Promise.resolve({ names: null, why: 'wwsh is not on the PATH' });
  return new Promise((resolve) => {
    const child = spawn(wwsh, ['node', 'print'], { env, stdio: ['ignore', 'pipe', 'ignore'], detached: true });
    const chunks: Buffer[] = [];
    let size = 0;
    let why: string | undefined;
    const end = (w: string) => {
      why ??= w;
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL'); // its whole group: wwsh is perl, and may start others
      } catch {
        /* already gone */
      }
    };
    const timer = setTimeout(() => end(`wwsh node print did not finish within ${timeoutMs / 1000} s`), timeoutMs);
    child.stdout.on('data', (d: Buffer) => {
      size += d.length;
      if (size > MAX_OUTPUT) end('wwsh node print printed more than 64 MiB');
      else chunks.push(d);
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ names: null, why: `cannot run ${wwsh}: ${err.message}` });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (why) return resolve({ names: null, why });
      if (code !== 0) return resolve({ names: null, why: `wwsh node print exited ${code ?? signal}` });
      const names = parseNodePrint(Buffer.concat(chunks).toString('utf8'));
      if (names.size === 0) return resolve({ names: null, why: 'wwsh node print listed no hardware address' });
      resolve({ names });
    });
  });
}
