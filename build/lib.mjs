// What the build scripts share: running a step, writing a file in one rename, hashing, the error
// that ends a build with one clear message.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The source tree. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** A failure the build explains in one line (`build: ERROR: ...`), without a stack. */
export class BuildError extends Error {}

/**
 * Runs a build step quietly and returns its standard output; its output is shown only when it
 * fails (then a BuildError names the command).
 */
export function run(cmd, args, opts = {}) {
  try {
    return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20, ...opts });
  } catch (err) {
    process.stderr.write(`${err.stdout ?? ''}${err.stderr ?? ''}`);
    throw new BuildError(`${cmd} ${args.join(' ')} failed${err.code === 'ENOENT' ? ` (${cmd} not installed)` : ''}`);
  }
}

/** Writes with a temporary name and a rename (concurrent builds never see half a file). */
export function put(target, write) {
  mkdirSync(dirname(target), { recursive: true });
  const tmp = `${target}.tmp${process.pid}`;
  write(tmp);
  renameSync(tmp, target);
}

/** The hex SHA-256 of bytes or a string. */
export function sha256(data) {
  return createHash('sha256').update(data).digest('hex');
}

/** The digest of a file's content (hex unless `enc` says otherwise). */
export function fileHash(algo, path, enc = 'hex') {
  return createHash(algo).update(readFileSync(path)).digest(enc);
}

/** The text of a SHA256SUMS file (sha256sum's format) for the files of `dir`, paths relative to it, in the order given. */
export function sumsText(dir, files) {
  return files.map((f) => `${fileHash('sha256', join(dir, f))}  ${f}\n`).join('');
}
