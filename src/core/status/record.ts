// The record of every run (issue 18): ROOT/var/lib/wwruntime/status/TOOL.json, one small JSON
// object per tool, so that `wwruntime status`, a monitoring system or an administrator can see
// what the last run did. A run writes a `started` record first (carrying the last finished run
// and the last success), then its `finished` record: a run that was killed or hangs leaves
// `started`, visibly, with the run before it still there. Each record holds at most the run
// before it (never a history): its size is bounded (RECORD_MAX_BYTES).
//
// Written like the newest-seen mark (files/mark.ts): confined to the root (fs/confine.ts), a
// temporary renamed over the name (fs/temp.ts via fs/place.ts), so a planted link is replaced,
// never followed; owned by the tool's user, mode 0644. Read back only when it is what a tool
// writes (regular file, one name, owned by root or the reader, writable by no one else).
import { constants as C } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { describe } from '../errors.ts';
import { resolveParent, safeComponents } from '../fs/confine.ts';
import { writeSmallFile } from '../fs/place.ts';
import { StaleTemps } from '../fs/temp.ts';
import type { Identity } from '../identity.ts';

export const STATUS_DIR = 'var/lib/wwruntime/status';
/** The tools that leave a record; `boot` is the bootstrap's runtime-services step (POSIX sh). */
export const RECORDED = ['wwgetfiles', 'wwgetscript', 'wwgetvnfs', 'boot'] as const;
export type RecordedTool = (typeof RECORDED)[number];
/** No record we write comes near this (each string is cut, and a record holds one previous run). */
export const RECORD_MAX_BYTES = 16 * 1024;
/** Longest error line, master name and version kept. */
const MAX_TEXT = 500;
export const RECORD_FORMAT = 1;

export interface RunCounts {
  listed: number;
  installed: number;
  unchanged: number;
  failed: number;
}

/** One run, as the record keeps it. Times are seconds since the epoch (UTC). */
export interface RunFacts {
  /** `started`: the run began and has not (yet) finished; `finished`: it ended with `exit`. */
  state: 'started' | 'finished';
  start: number;
  end: number | null;
  exit: number | null;
  /** The run's one-line error, when it failed. */
  error: string | null;
  /** The master that answered (host[:port]); null when none did. */
  master: string | null;
  counts: RunCounts | null;
  markBefore: number | null;
  markAfter: number | null;
  version: string;
  pid: number;
}

export interface RunRecord extends RunFacts {
  format: number;
  tool: RecordedTool;
  /** End of the newest run that exited 0, this one included. */
  lastSuccess: number | null;
  /** The last finished run before this one (its own `previous` is not kept). */
  previous: RunFacts | null;
}

export type RecordRead =
  | { kind: 'ok'; record: RunRecord }
  | { kind: 'missing' }
  /** There but not trusted: foreign, a link, corrupt, truncated. */
  | { kind: 'bad'; why: string };

export const recordFile = (tool: RecordedTool) => `${STATUS_DIR}/${tool}.json`;

const cut = (s: string | null | undefined) => (s == null ? null : s.length > MAX_TEXT ? `${s.slice(0, MAX_TEXT)}...` : s);

const isCount = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
const isTime = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v < 1e11;
const optional = (v: unknown, ok: (v: unknown) => boolean) => v === null || ok(v);
const isText = (v: unknown) => typeof v === 'string' && v.length <= MAX_TEXT + 3;

/** Why `v` is not RunFacts as we write them; null when it is. */
function factsProblem(v: Record<string, unknown>): string | null {
  if (v.state !== 'started' && v.state !== 'finished') return 'state is neither started nor finished';
  if (!isTime(v.start)) return 'no start time';
  if (!optional(v.end, isTime) || !optional(v.exit, isCount)) return 'bad end or exit';
  if ((v.state === 'finished') !== (v.end !== null && v.exit !== null)) return 'end and exit do not match the state';
  if (!optional(v.error, isText) || !optional(v.master, isText) || !isText(v.version)) return 'bad text field';
  if (!optional(v.markBefore, isCount) || !optional(v.markAfter, isCount) || !isCount(v.pid)) return 'bad number field';
  const c = v.counts as Record<string, unknown> | null;
  if (c !== null && (typeof c !== 'object' || !['listed', 'installed', 'unchanged', 'failed'].every((k) => isCount(c[k]))))
    return 'bad counts';
  return null;
}

/** The record in `text`, checked field by field: anything else is a reason not to trust it. */
export function parseRecord(text: string, tool: RecordedTool): RunRecord | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return text.length === 0 ? 'empty' : 'not JSON (corrupt or truncated)';
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) return 'not a JSON object';
  const r = v as Record<string, unknown>;
  if (r.format !== RECORD_FORMAT) return `format ${JSON.stringify(r.format)}, not ${RECORD_FORMAT}`;
  if (r.tool !== tool) return `a record of ${JSON.stringify(r.tool)}, not ${tool}`;
  const problem = factsProblem(r);
  if (problem) return problem;
  if (!optional(r.lastSuccess, isTime)) return 'bad lastSuccess';
  const p = r.previous as Record<string, unknown> | null;
  if (p !== null) {
    if (typeof p !== 'object' || Array.isArray(p)) return 'bad previous';
    const pp = factsProblem(p);
    if (pp) return `previous: ${pp}`;
  }
  return r as unknown as RunRecord;
}

/**
 * Reads ROOT's record of `tool`. `trusted`: the owners whose record is believed (root, and
 * whoever reads: a test, or a tool run by a user on its own root).
 */
export async function readRecord(rootReal: string, tool: RecordedTool, trusted: number[]): Promise<RecordRead> {
  let fh;
  try {
    const parent = await resolveParent(rootReal, safeComponents(`/${recordFile(tool)}`), false);
    if (!parent) return { kind: 'missing' };
    fh = await open(join(parent.dir, parent.name), C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { kind: 'missing' };
    return { kind: 'bad', why: code === 'ELOOP' ? 'a symbolic link' : describe(err) };
  }
  try {
    // Checked on the open file, so nothing can be swapped in between.
    const st = await fh.stat();
    const why = !st.isFile()
      ? 'not a regular file'
      : !trusted.includes(st.uid)
        ? `owned by uid ${st.uid}, not ${trusted.join(' or ')}`
        : (st.mode & 0o022) !== 0
          ? `writable by group or others (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')})`
          : st.nlink !== 1
            ? `a file with ${st.nlink} names (hard links)`
            : st.size > RECORD_MAX_BYTES
              ? `larger than ${RECORD_MAX_BYTES} bytes`
              : null;
    if (why) return { kind: 'bad', why };
    const buf = Buffer.alloc(RECORD_MAX_BYTES + 1);
    let n = 0;
    for (let r; n < buf.length && (r = await fh.read(buf, n, buf.length - n, n)).bytesRead > 0; ) n += r.bytesRead;
    if (n > RECORD_MAX_BYTES) return { kind: 'bad', why: `larger than ${RECORD_MAX_BYTES} bytes` };
    const parsed = parseRecord(buf.subarray(0, n).toString('utf8'), tool);
    return typeof parsed === 'string' ? { kind: 'bad', why: parsed } : { kind: 'ok', record: parsed };
  } finally {
    await fh.close();
  }
}

/** Every tool's record under the root, as `trusted` owners leave them. */
export async function readAllRecords(rootReal: string, trusted: number[]): Promise<Map<RecordedTool, RecordRead>> {
  const out = new Map<RecordedTool, RecordRead>();
  for (const tool of RECORDED)
    out.set(tool, await readRecord(rootReal, tool, trusted).catch((e) => ({ kind: 'bad', why: describe(e) }) as const));
  return out;
}

/** Writes `record` as ROOT's record of its tool, atomically; the caller's user owns it. */
export async function writeRecord(rootReal: string, record: RunRecord, identity: Identity): Promise<void> {
  const text = `${JSON.stringify(record, null, 1)}\n`;
  const parent = await resolveParent(rootReal, safeComponents(`/${recordFile(record.tool)}`), true);
  const own = { uid: identity.uid, gid: -1, mode: 0o644 };
  // What a run killed while writing left beside it (its temporary) goes first.
  await new StaleTemps(undefined, { identity }).sweep(parent!.dir, parent!.name, own);
  await writeSmallFile({ dir: parent!.dir, name: parent!.name, own, chown: false }, text, { sync: false });
}

/** What a tool tells the recorder about its run as it learns it. */
export type RunNotes = Partial<Pick<RunFacts, 'master' | 'counts' | 'markBefore' | 'markAfter'>>;

export interface RecorderOptions {
  tool: RecordedTool;
  /** The tool's target root, a real path (NEWROOT, --root, --target, or /). */
  rootReal: string;
  identity: Identity;
  version: string;
  pid: number;
  /** Seconds since the epoch. */
  now?: () => number;
}

/**
 * One run's record: begin() writes `started`, finish() the `finished` record. Failures to write
 * are returned as one line for the log: the run's own result never depends on its record.
 */
export class RunRecorder {
  private readonly now: () => number;
  private notes: RunNotes = {};
  private begun: { start: number; previous: RunFacts | null; lastSuccess: number | null } | null = null;

  constructor(readonly o: RecorderOptions) {
    this.now = o.now ?? (() => Date.now() / 1000);
  }

  note(n: RunNotes): void {
    this.notes = { ...this.notes, ...n };
  }

  private facts(state: 'started' | 'finished', start: number, end: number | null, exit: number | null, error: string | null): RunFacts {
    const n = this.notes;
    return {
      state,
      start,
      end,
      exit,
      error: cut(error),
      master: cut(n.master ?? null),
      counts: n.counts ?? null,
      markBefore: n.markBefore ?? null,
      markAfter: n.markAfter ?? null,
      version: cut(this.o.version)!,
      pid: this.o.pid,
    };
  }

  private record(f: RunFacts, lastSuccess: number | null, previous: RunFacts | null): RunRecord {
    return { format: RECORD_FORMAT, tool: this.o.tool, ...f, lastSuccess, previous };
  }

  /** Writes the `started` record; returns a warning line when it could not. */
  async begin(): Promise<string | null> {
    const start = this.now();
    // The last finished run: the record itself, or what a killed run's `started` record carried.
    const old = await readRecord(this.o.rootReal, this.o.tool, [this.o.identity.uid]).catch(() => ({ kind: 'missing' }) as const);
    let previous: RunFacts | null = null;
    let lastSuccess: number | null = null;
    if (old.kind === 'ok') {
      const { format, tool, lastSuccess: ls, previous: p, ...facts } = old.record;
      previous = facts.state === 'finished' ? facts : p;
      lastSuccess = ls;
    }
    this.begun = { start, previous, lastSuccess };
    return this.write(this.record(this.facts('started', start, null, null, null), lastSuccess, previous));
  }

  /** Writes the `finished` record (after begin()); returns a warning line when it could not. */
  async finish(exit: number, error: string | null): Promise<string | null> {
    if (!this.begun) return null;
    const { start, previous, lastSuccess } = this.begun;
    const end = Math.max(start, this.now());
    // The run before this one becomes `previous`: a killed run in between is forgotten, not nested.
    return this.write(this.record(this.facts('finished', start, end, exit, error), exit === 0 ? end : lastSuccess, previous));
  }

  get started(): boolean {
    return this.begun !== null;
  }

  private async write(r: RunRecord): Promise<string | null> {
    try {
      await writeRecord(this.o.rootReal, r, this.o.identity);
      return null;
    } catch (err) {
      return `cannot write the run record ${join(this.o.rootReal, recordFile(this.o.tool))}: ${describe(err)}`;
    }
  }
}
