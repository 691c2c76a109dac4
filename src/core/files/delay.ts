// wwgetfiles' start delay (the splay), so that a cluster's nodes do not all ask the master at once.

/** The start delay: SLEEPTIME if set, else random 0..interval-1 seconds; none in the initramfs or for interval 0. */
export function startDelaySeconds(opts: { sleeptime?: number; interval?: number; inInitramfs: boolean; random?: () => number }): number {
  if (opts.inInitramfs) return 0;
  if (opts.sleeptime !== undefined) return opts.sleeptime;
  const interval = opts.interval ?? 180;
  if (interval <= 0) return 0;
  return Math.floor((opts.random ?? Math.random)() * interval);
}
