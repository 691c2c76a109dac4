// Runs a BUILT executable the way a node would: under `env -i` (no PATH, no
// HOME, no node anywhere), with only the settings the test passes.
import { spawn, spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const DIST = join(ROOT, 'dist', 'linux-x64');
export const bin = (name: string) => join(DIST, name);

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
}

export interface RunOptions {
  env?: Record<string, string>;
  timeoutMs?: number;
  argv0?: string;
  cwd?: string;
  onSpawn?: (pid: number) => void;
  /** Run as this user and group (the test runs as root). */
  uid?: number;
  gid?: number;
}

export function run(exe: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((res, rej) => {
    // `env -i` semantics: an empty environment plus exactly what the test sets.
    const child = spawn(exe, args, {
      env: opts.env ?? {},
      argv0: opts.argv0,
      cwd: opts.cwd ?? '/',
      uid: opts.uid,
      gid: opts.gid,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (child.pid && opts.onSpawn) opts.onSpawn(child.pid);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => err.push(d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', rej);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stdoutBytes = Buffer.concat(out);
      res({ code, signal, stdout: stdoutBytes.toString(), stderr: Buffer.concat(err).toString(), stdoutBytes });
    });
  });
}

/**
 * Runs a shell script: SHELL -c SCRIPT (shell default /bin/sh), returns its stdout; throws when it
 * fails. env: exactly these variables plus PATH (default: this process's environment); stderr
 * 'inherit' shows the script's errors as they come (default: kept for the error).
 */
export function sh(
  script: string,
  o: { shell?: string[]; cwd?: string; env?: Record<string, string>; stderr?: 'pipe' | 'inherit' } = {},
): string {
  const shell = o.shell ?? ['/bin/sh'];
  const r = spawnSync(shell[0], [...shell.slice(1), '-c', script], {
    cwd: o.cwd,
    env: o.env && { PATH: process.env.PATH ?? '/bin', ...o.env },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', o.stderr ?? 'pipe'],
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0) throw new Error(`${shell.join(' ')} -c failed: ${r.error ?? r.stderr ?? ''}`);
  return r.stdout;
}
