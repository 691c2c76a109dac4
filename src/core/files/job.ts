// wwgetfiles' job: bring the node's provisioned file objects (PROTOCOL 2.2, 2.3, 3)
// into the root, safely. The tool has taken the lock and made the client; from here:
// read the mark -> fetch the list -> plan it -> apply it in list order, fetching
// ahead -> advance the mark past what was handled.
import { join } from 'node:path';
import { realRoot } from '../fs/confine.ts';
import { describe } from '../errors.ts';
import type { FileEntry } from '../protocol/filelist.ts';
import type { Logger } from '../log.ts';
import type { MasterClient } from '../net/client.ts';
import type { Identity } from '../identity.ts';
import { StaleTemps } from '../fs/temp.ts';
import { nextMark, readMark, writeMark } from './mark.ts';
import { fetchFileList } from './fetch.ts';
import { planEntries } from './plan.ts';
import { inListOrder } from './order.ts';
import { fetchAhead } from './prefetch.ts';
import { installOne, parentMaker, type ApplyContext, type Outcome } from './apply.ts';

export interface SyncOptions {
  client: MasterClient;
  hwaddr: string;
  /** NEWROOT, or '/' on a running node. */
  root: string;
  log: Logger;
  /** Who the tool runs as: the stored mark is trusted only as this user's. */
  identity: Identity;
  /** Use the newest-seen mark to fetch only newer objects (not in the initramfs, not with -F). */
  useMark: boolean;
  /** -F: delete the mark first. */
  forceFull: boolean;
  dryRun: boolean;
  /** Downloads in flight at once. */
  concurrency: number;
  /** Set owners (root only; otherwise owners are left as the running user). */
  chown: boolean;
  /**
   * Rounds for one object's content (default: the client's). On a running node a
   * download that keeps failing must not hold the run (and the lock) through the
   * whole back-off: it fails, the mark stays below it, the next run asks again.
   */
  objectAttempts?: number;
  now?: () => Date;
  mknodPath?: string;
}

export interface SyncReport {
  listed: number;
  installed: number;
  unchanged: number;
  failed: number;
  skipped: number;
  /** One line per object that changed or would change (dry run), and per failure. */
  changes: string[];
  errors: string[];
  markBefore: number;
  markAfter: number;
}

export async function syncFiles(o: SyncOptions): Promise<SyncReport> {
  const now = (o.now ?? (() => new Date()))();
  const rootReal = await realRoot(o.root);

  // The mark. -F ignores it (upstream deletes it first; the effect is the same, and an unchanged mark is not rewritten).
  const stored = await readMark(rootReal, o.identity.uid);
  if (stored.distrust && o.useMark && !o.forceFull) {
    o.log.warn(`ignoring the mark ${join(rootReal, stored.file!)}: ${stored.distrust}; fetching every object`);
  }
  const markBefore = o.useMark && !o.forceFull ? stored.value : 0;

  // The list, and the plan of it.
  const entries = await fetchFileList(o.client, o.hwaddr, markBefore);
  o.log.debug(`${entries.length} file object(s) listed newer than ${markBefore}`);
  const plan = planEntries(entries);

  // Applied in list order, as if one by one (a link such as /lib -> usr/lib before the files under it), with
  // the downloads of later objects done ahead, `concurrency` at a time, up to 4 x concurrency places ahead
  // (16 to 64: each waiting download is an open file).
  const report: SyncReport = {
    listed: entries.length,
    installed: 0,
    unchanged: 0,
    failed: 0,
    skipped: 0,
    changes: [],
    errors: [],
    markBefore,
    markAfter: markBefore,
  };
  const results: { entry: FileEntry; outcome: Outcome }[] = [];
  const temps = new StaleTemps(o.log, { identity: o.identity });
  const ctx: ApplyContext = {
    rootReal,
    dryRun: o.dryRun,
    chown: o.chown,
    log: o.log,
    now,
    mknodPath: o.mknodPath,
    temps,
    source: { client: o.client, hwaddr: o.hwaddr, attempts: o.objectAttempts },
    makeDir: parentMaker(plan, o.chown, now),
  };
  await inListOrder(
    plan.entries,
    o.concurrency,
    Math.min(64, Math.max(16, 4 * o.concurrency)),
    (p) => (p.superseded ? Promise.resolve(null) : fetchAhead(p, ctx)),
    async (p, ahead) => {
      const e = p.entry;
      let outcome: Outcome;
      try {
        let change: string | undefined;
        if (p.superseded) {
          o.log.debug(`${e.path}: listed again later at the same path; this one skipped`);
          outcome = 'skipped';
        } else {
          [outcome, change] = await installOne(p, ctx, ahead);
        }
        if (change) {
          report.changes.push(change);
          o.log.info(o.dryRun ? `would ${change}` : change);
        }
      } catch (err) {
        outcome = 'failed';
        const msg = `${e.path.length > 200 ? `${e.path.slice(0, 200)}...` : e.path}: ${describe(err)}`;
        report.errors.push(msg);
        o.log.error(msg);
      }
      report[outcome]++;
      results.push({ entry: e, outcome });
    },
  );

  // The mark, past what was handled.
  report.markAfter = nextMark(markBefore, results);
  if (!o.dryRun) await writeMark(rootReal, stored, report.markAfter, temps);
  return report;
}
