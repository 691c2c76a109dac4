// One walk of a folder tree, for the tests that compare or list what a run left on disk: every
// entry under a folder (sorted by name, a folder before what it holds) with its lstat; listings and
// a checksum built from it.
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync, type Stats } from 'node:fs';
import { join } from 'node:path';

export type EntryType = 'file' | 'dir' | 'link' | 'char' | 'block' | 'fifo' | 'socket';

export interface TreeEntry {
  /** Relative to the folder walked, '/'-separated ('.' for the folder itself). */
  rel: string;
  /** The full path. */
  path: string;
  st: Stats;
  type: EntryType;
  /** Permission bits (st.mode & 0o7777). */
  mode: number;
  /** A symbolic link's target. */
  link?: string;
}

/** The run records' folder (core/status/record.ts): every run rewrites its record there, by design. */
export const RUN_RECORDS = 'var/lib/wwruntime/status';
/** For walkTree's skip: the run records, which comparisons of what a run installed leave out. */
export const isRunRecord = (e: { rel: string }) => e.rel === RUN_RECORDS || e.rel.startsWith(`${RUN_RECORDS}/`);

/**
 * The entries without the run records and the folders on their way that hold nothing else (made
 * for the record alone): what the step or a tool installed, which the tests compare; each run's
 * record is checked by the tests of issue 18 (test/e2e/status.test.ts).
 */
export function withoutRunRecords(entries: TreeEntry[]): TreeEntry[] {
  let kept = entries.filter((e) => !isRunRecord(e));
  for (const dir of ['var/lib/wwruntime', 'var/lib', 'var']) {
    const had = entries.some(isRunRecord);
    if (had && !kept.some((e) => e.rel.startsWith(`${dir}/`))) kept = kept.filter((e) => e.rel !== dir);
  }
  return kept;
}

export function typeOf(st: Stats): EntryType {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'link';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return 'socket';
}

/**
 * Every entry under dir, depth first, names sorted. self: the folder itself first, as '.'.
 * skip: entries (and, for a folder, what it holds) left out.
 */
export function walkTree(dir: string, o: { self?: boolean; skip?: (e: TreeEntry) => boolean } = {}): TreeEntry[] {
  const out: TreeEntry[] = [];
  const entry = (rel: string, path: string): TreeEntry => {
    const st = lstatSync(path);
    const type = typeOf(st);
    return { rel, path, st, type, mode: st.mode & 0o7777, ...(type === 'link' ? { link: readlinkSync(path) } : {}) };
  };
  const visit = (e: TreeEntry) => {
    if (o.skip?.(e)) return;
    out.push(e);
    if (e.type === 'dir') for (const n of readdirSync(e.path).sort()) visit(entry(e.rel === '.' ? n : `${e.rel}/${n}`, join(e.path, n)));
  };
  if (o.self) visit(entry('.', dir));
  else for (const n of readdirSync(dir).sort()) visit(entry(n, join(dir, n)));
  return out;
}

export const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');
export const fileSha256 = (path: string): string => sha256(readFileSync(path));

/**
 * One line per entry: type (d, l, f), four octal mode digits, path, then a content hash (16 hex
 * digits) or '-> target'. Stable across runs; what the bootstrap tests compare.
 */
export function treeLines(dir: string): string[] {
  return withoutRunRecords(walkTree(dir)).map((e) => {
    const mode = e.mode.toString(8).padStart(4, '0');
    if (e.type === 'link') return `l ${mode} ${e.rel} -> ${e.link}`;
    if (e.type === 'dir') return `d ${mode} ${e.rel}`;
    return `f ${mode} ${e.rel} ${fileSha256(e.path).slice(0, 16)}`;
  });
}

/** A checksum of a folder: its paths, types, modes, contents and link targets (treeLines). */
export function folderChecksum(dir: string): string {
  return sha256(treeLines(dir).join('\n'));
}
