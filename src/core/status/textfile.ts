// The Prometheus node_exporter textfile (issue 18): after each run, wwruntime.prom in the
// collector's directory is rewritten whole (a temporary in that directory, renamed over it:
// fs/temp.ts via fs/place.ts) from every tool's record (record.ts), so one file carries all tools
// and node_exporter never reads half of it. The directory is named as the node sees it and found
// under the run's root (NEWROOT in the initramfs: the booted system's node_exporter reads it).
import { join } from 'node:path';
import { describe } from '../errors.ts';
import { resolveParent, safeComponents } from '../fs/confine.ts';
import { writeSmallFile } from '../fs/place.ts';
import type { Identity } from '../identity.ts';
import { RECORDED, readAllRecords, type RecordRead, type RecordedTool } from './record.ts';

export const TEXTFILE_NAME = 'wwruntime.prom';
/** Used when WWRUNTIME_TEXTFILE_DIR is not set, and only when it exists (Debian's and node_exporter's usual place). */
export const DEFAULT_TEXTFILE_DIR = '/var/lib/node_exporter/textfile_collector';

/** A label value in the exposition format: backslash, double quote and newline escaped. */
const label = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const num = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(3));

interface Family {
  name: string;
  help: string;
  samples: string[];
}

/** The metrics of every tool's record, in the text exposition format (HELP and TYPE for each family). */
export function renderMetrics(records: Map<RecordedTool, RecordRead>): string {
  const fam = (name: string, help: string): Family => ({ name: `wwruntime_${name}`, help, samples: [] });
  const valid = fam('record_valid', 'Whether the run record of the tool is present and trusted (1), or missing or not trusted (0).');
  const inProgress = fam('run_in_progress', 'Whether the newest run started and has not finished (running, hung or killed).');
  const start = fam('last_run_start_timestamp_seconds', 'When the newest run started, in seconds since the epoch.');
  const end = fam('last_run_end_timestamp_seconds', 'When the newest finished run ended, in seconds since the epoch.');
  const duration = fam('last_run_duration_seconds', 'How long the newest finished run took.');
  const exit = fam('last_run_exit_status', 'Exit status of the newest finished run (0 success).');
  const success = fam('last_success_timestamp_seconds', 'When the newest successful run ended, in seconds since the epoch.');
  const objects = fam('last_run_objects', 'File objects of the newest finished run, by outcome (listed, installed, unchanged, failed).');
  const mark = fam(
    'mark_timestamp_seconds',
    "The newest-seen mark after the newest finished run: the master's object timestamp below which all is handled.",
  );
  const info = fam('version_info', 'The version of the tool that wrote the record (always 1).');
  for (const tool of RECORDED) {
    const read = records.get(tool) ?? { kind: 'missing' };
    const t = `tool="${tool}"`;
    valid.samples.push(`{${t}} ${read.kind === 'ok' ? 1 : 0}`);
    if (read.kind !== 'ok') continue;
    const r = read.record;
    inProgress.samples.push(`{${t}} ${r.state === 'started' ? 1 : 0}`);
    start.samples.push(`{${t}} ${num(r.start)}`);
    // The figures of the newest finished run: this one, or the one a `started` record carries.
    const done = r.state === 'finished' ? r : r.previous;
    if (done && done.end !== null && done.exit !== null) {
      end.samples.push(`{${t}} ${num(done.end)}`);
      duration.samples.push(`{${t}} ${num(Math.max(0, done.end - done.start))}`);
      exit.samples.push(`{${t}} ${done.exit}`);
      if (done.counts) {
        for (const k of ['listed', 'installed', 'unchanged', 'failed'] as const)
          objects.samples.push(`{${t},outcome="${k}"} ${done.counts[k]}`);
      }
      if (done.markAfter !== null) mark.samples.push(`{${t}} ${done.markAfter}`);
    }
    if (r.lastSuccess !== null) success.samples.push(`{${t}} ${num(r.lastSuccess)}`);
    info.samples.push(`{${t},version="${label(r.version)}"} 1`);
  }
  return [valid, inProgress, start, end, duration, exit, success, objects, mark, info]
    .filter((f) => f.samples.length > 0)
    .map((f) => `# HELP ${f.name} ${f.help}\n# TYPE ${f.name} gauge\n${f.samples.map((s) => `${f.name}${s}\n`).join('')}`)
    .join('');
}

export interface TextfileOptions {
  rootReal: string;
  /** WWRUNTIME_TEXTFILE_DIR, when set: the directory as the node sees it (absolute). */
  dir: string | undefined;
  identity: Identity;
}

/**
 * Rewrites ROOT/DIR/wwruntime.prom from the records. Returns null when written or when there is
 * nothing to do (no directory set and the default one absent), else the one warning line.
 */
export async function writeTextfile(o: TextfileOptions): Promise<string | null> {
  const dir = o.dir ?? DEFAULT_TEXTFILE_DIR;
  const shown = o.dir === undefined ? dir : `WWRUNTIME_TEXTFILE_DIR ${dir}`;
  try {
    if (!dir.startsWith('/')) return `${shown} is not an absolute path: no metrics written`;
    const parent = await resolveParent(o.rootReal, safeComponents(`${dir}/${TEXTFILE_NAME}`), false);
    if (!parent) return o.dir === undefined ? null : `${shown} does not exist under ${o.rootReal}: no metrics written`;
    const text = renderMetrics(await readAllRecords(o.rootReal, [0, o.identity.uid]));
    // Readable by node_exporter, whoever it runs as.
    await writeSmallFile({ dir: parent.dir, name: parent.name, own: { uid: o.identity.uid, gid: -1, mode: 0o644 }, chown: false }, text, {
      sync: false,
    });
    return null;
  } catch (err) {
    return `cannot write ${join(o.rootReal, dir, TEXTFILE_NAME)} (${shown}): ${describe(err)}; no metrics written`;
  }
}
