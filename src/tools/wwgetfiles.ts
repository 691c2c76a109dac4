// wwgetfiles: bring this node's provisioned files in line with the master.
// Entry module: parses arguments, takes the lock, sleeps the splay, and hands
// the work to core/files/job.ts.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT, WwError } from '../core/errors.ts';
import { lockDir, tryLock } from '../core/fs/lock.ts';
import { realRoot } from '../core/fs/confine.ts';
import { SLEEPTIME, WWGETFILES_INTERVAL, secondsSetting } from '../core/settings/node.ts';
import { syncFiles } from '../core/files/job.ts';
import { startDelaySeconds } from '../core/files/delay.ts';
import { masterContext } from './client.ts';
import { COMMON_HELP, COMMON_OPTIONS, EXIT_HELP, SETTINGS_HELP, numberOption, parse } from './options.ts';
import { handleInfo, makeLogger, settingsFor, type Tool, type ToolIO } from './tool.ts';

const NAME = 'wwgetfiles';
/** Rounds for one object's content on a running node (back-off 2 s + 4 s between them). */
const OBJECT_ATTEMPTS = 3;
const HELP = `Usage: ${NAME} [-F] [--dry-run] [--root DIR] [options]
Fetches this node's file objects from the master (/WW/file) and installs each
one atomically with the owner, group and mode the master lists: regular files,
directories, symbolic links, block and character devices, FIFOs.
  -F, --full             forget the newest-seen mark and fetch every object
  -n, --dry-run          fetch the list and contents, show what would change, write nothing
  --root DIR             install under DIR (same as NEWROOT; default / on a running node)
  --no-delay             skip the random start delay (for runs by hand)
  --concurrency N        at most N downloads in flight at once (1-64, default 4): the node starts with
                         one and adds one while answers stay fast, halves on a 5xx, 503, 429, timeout
                         or refused connection (down to one request, then pauses between requests)
  --object-attempts N    rounds for one object's content before it fails (1-10000; default 3 on a running
                         node, so one bad download does not hold the run; --attempts in the initramfs)
${COMMON_HELP}
${SETTINGS_HELP}
  NEWROOT                root to install into (set inside the initramfs)
  WWGETFILES_INTERVAL    upper bound of the random start delay, whole seconds 0-86400 (default 180; 0: none)
  SLEEPTIME              fixed start delay, whole seconds 0-86400, overriding the random one
  WWRUNTIME_TEXTFILE_DIR node_exporter textfile folder (under ROOT) for wwruntime.prom (default
                         /var/lib/node_exporter/textfile_collector, when it exists)
The delay is skipped inside the initramfs (/init exists). The newest-seen mark is
ROOT/var/lib/wwruntime/wwgetfiles_timestamp (upstream's ROOT/tmp/.wwgetfiles_timestamp
is read once, when it is missing); it only advances past objects that were installed,
and is trusted only as this tool writes it (its user's, writable by no one else).
Objects take effect in list order; downloads overlap (--concurrency). One instance per
root: the lock is a socket in /run/wwruntime (root) or /tmp/wwruntime-UID.
A summary line (installed, unchanged, failed, skipped, elapsed) goes to stderr; the run's record
to ROOT/var/lib/wwruntime/status/wwgetfiles.json ('wwruntime status' reads it).
${EXIT_HELP}
     (wwgetfiles: 2 also when any single object failed; every other object is still processed)`;

const OPTIONS = {
  ...COMMON_OPTIONS,
  full: { type: 'boolean', short: 'F' },
  'dry-run': { type: 'boolean', short: 'n' },
  root: { type: 'string' },
  'no-delay': { type: 'boolean' },
  concurrency: { type: 'string' },
  'object-attempts': { type: 'string' },
} as const;

export const wwgetfiles: Tool = {
  name: NAME,
  summary: "install this node's provisioned files",
  async main(io: ToolIO) {
    const started = Date.now();
    const { values, positionals } = parse(io.argv, OPTIONS);
    if (handleInfo(io, values, NAME, HELP)) return EXIT.OK;
    if (positionals.length > 0) throw new WwError('WW_USAGE', `unexpected argument '${positionals[0]}'`);
    const concurrency = numberOption(values.concurrency, 'concurrency', { min: 1, max: 64 }, 4);
    const objectAttempts =
      values['object-attempts'] === undefined
        ? undefined
        : numberOption(values['object-attempts'], 'object-attempts', { min: 1, max: 10000 }, 0);
    const log = makeLogger(io, values, NAME);
    const settings = settingsFor(io, values);
    const root = values.root || settings.get('NEWROOT') || '/';
    const inInitramfs = existsSync(join(values.sysroot ?? '/', 'init'));
    const rootReal = await realRoot(root);

    const { uid } = io.identity;
    const lock = await tryLock(NAME, rootReal, { dir: lockDir(uid), uid });
    if (!lock) throw new WwError('WW_LOCKED', 'wwgetfiles already running');
    try {
      // Only the run holding the lock records (a locked run would hide the running one); a dry run changes nothing.
      if (!values['dry-run']) await io.record?.begin({ tool: NAME, rootReal, settings, log });
      // --max-run counts from the start, the start delay included: a cron run must end before the next tick.
      const ctx = masterContext(io, values, { log, settings, started, concurrency, initramfs: inInitramfs });
      const delay =
        values['no-delay'] || values['dry-run']
          ? 0
          : startDelaySeconds({
              // Both read (and a bad one reported) even when SLEEPTIME overrides the interval.
              sleeptime: secondsSetting(settings, SLEEPTIME, (l) => log.warn(l)),
              interval: secondsSetting(settings, WWGETFILES_INTERVAL, (l) => log.warn(l)),
              inInitramfs,
            });
      if (delay > 0) {
        log.debug(`sleeping ${delay} s before contacting the master`);
        await new Promise((r) => setTimeout(r, delay * 1000));
      }
      try {
        const t0 = Date.now();
        const r = await syncFiles({
          client: ctx.client,
          hwaddr: ctx.hwaddr,
          root: rootReal,
          log,
          identity: io.identity,
          useMark: !inInitramfs,
          forceFull: !!values.full,
          dryRun: !!values['dry-run'],
          concurrency,
          chown: io.identity.root,
          // In the initramfs giving up means a reboot: every object gets the full back-off there.
          objectAttempts: objectAttempts ?? (inInitramfs ? undefined : Math.min(OBJECT_ATTEMPTS, ctx.client.opts.retry.attempts)),
        });
        io.record?.note({
          counts: { listed: r.listed, installed: r.installed, unchanged: r.unchanged, failed: r.failed },
          markBefore: r.markBefore,
          markAfter: r.markAfter,
          error: r.failed > 0 ? `${r.failed} object(s) failed; the first: ${r.errors[0] ?? 'unknown'}` : undefined,
        });
        const secs = ((Date.now() - t0) / 1000).toFixed(2);
        const verb = values['dry-run'] ? 'would install' : 'installed';
        log.info(
          `${r.listed} listed, ${r.installed} ${verb}, ${r.unchanged} unchanged, ${r.failed} failed, ${r.skipped} skipped in ${secs} s` +
            ` (${ctx.client.requests} request(s); ${((Date.now() - started) / 1000).toFixed(2)} s with start-up and delay)`,
        );
        return r.failed > 0 ? EXIT.FAILED : EXIT.OK;
      } finally {
        io.record?.note({ master: ctx.client.answered });
        ctx.client.close();
      }
    } finally {
      await lock.release();
    }
  },
};
