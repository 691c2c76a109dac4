// Process and folder bookkeeping for the storm rig: every server and node is started in its own
// process group and recorded here, so that a normal end, an error, Ctrl-C (SIGINT), SIGTERM or
// the run's time limit all end them (SIGTERM, then SIGKILL) and remove the rig's folders. A
// guardian (a detached POSIX sh loop) covers the one case the rig cannot handle itself, its own
// SIGKILL (e.g. a test runner's timeout): once the rig's pid is gone it kills the process groups
// still listed as live (the list is rewritten every second, so a group that ended is not killed
// after its id was reused) and removes the folders.
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';

export class Procs {
  private readonly groups = new Map<number, { name: string; child: ChildProcess }>();
  private readonly dirs: string[] = [];
  private guardian?: ChildProcess;
  private liveFile: string;
  private dirsFile: string;
  private timer?: NodeJS.Timeout;
  private closed = false;
  private readonly onSignal = (sig: NodeJS.Signals) => {
    process.stderr.write(`storm: ${sig}: stopping every process the rig started and removing its folders\n`);
    this.killAllSync();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  private readonly onExit = () => this.killAllSync();

  /** keep: leave stateDir in place at the end (the processes are stopped all the same). */
  constructor(
    readonly stateDir: string,
    keep = false,
  ) {
    this.liveFile = join(stateDir, 'live-pgids');
    this.dirsFile = join(stateDir, 'dirs');
    fs.writeFileSync(this.liveFile, '');
    fs.writeFileSync(this.dirsFile, keep ? '' : `${stateDir}\n`);
    if (!keep) this.dirs.push(stateDir);
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
    process.on('exit', this.onExit);
    const script = [
      `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done`,
      `for g in $(cat '${this.liveFile}' 2>/dev/null); do kill -TERM -$g 2>/dev/null; done`,
      'sleep 2',
      `for g in $(cat '${this.liveFile}' 2>/dev/null); do kill -KILL -$g 2>/dev/null; done`,
      `while read -r d; do case "$d" in /*wwstorm-*) rm -rf -- "$d" ;; esac; done < '${this.dirsFile}'`,
    ].join('\n');
    this.guardian = spawn('/bin/sh', ['-c', script], { detached: true, stdio: 'ignore' });
    this.guardian.unref();
    this.timer = setInterval(() => this.writeLive(), 1000);
    this.timer.unref();
  }

  /** A folder to remove at the end (its name must contain "wwstorm-"). */
  addDir(dir: string): void {
    this.dirs.push(dir);
    fs.appendFileSync(this.dirsFile, `${dir}\n`);
  }

  /** Starts a command in its own process group and records the group. */
  spawn(name: string, cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
    if (this.closed) throw new Error('storm: the rig is stopping');
    const child = spawn(cmd, args, { ...opts, detached: true });
    const pid = child.pid;
    if (pid === undefined) {
      child.on('error', () => {});
      throw new Error(`storm: cannot start ${cmd}`);
    }
    this.groups.set(pid, { name, child });
    child.on('exit', () => {
      // The group may outlive its leader (Apache's children): keep it while a member is left.
      if (!groupAlive(pid)) this.groups.delete(pid);
    });
    return child;
  }

  /** SIGTERM to a group, then SIGKILL after graceMs; resolves when the leader has exited and the group is empty. */
  async stop(child: ChildProcess, graceMs = 10_000): Promise<void> {
    const pid = child.pid;
    if (pid === undefined) return;
    const exited = new Promise<void>((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once('exit', () => r())));
    signalGroup(pid, 'SIGTERM');
    const t = setTimeout(() => signalGroup(pid, 'SIGKILL'), graceMs);
    await exited;
    const until = Date.now() + graceMs;
    while (groupAlive(pid) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    if (groupAlive(pid)) signalGroup(pid, 'SIGKILL');
    clearTimeout(t);
    this.groups.delete(pid);
  }

  private writeLive(): void {
    for (const pid of [...this.groups.keys()]) if (!groupAlive(pid)) this.groups.delete(pid);
    try {
      fs.writeFileSync(`${this.liveFile}.new`, [...this.groups.keys()].join('\n') + '\n');
      fs.renameSync(`${this.liveFile}.new`, this.liveFile);
    } catch {
      // the state folder is being removed
    }
  }

  /** Ends every recorded group (SIGTERM, up to 3 s, SIGKILL) and removes the folders. Synchronous: safe in 'exit'. */
  killAllSync(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    const pids = [...this.groups.keys()];
    for (const pid of pids) signalGroup(pid, 'SIGTERM');
    const until = Date.now() + 3000;
    while (pids.some(groupAlive) && Date.now() < until) spawnSync('/bin/sleep', ['0.1']);
    for (const pid of pids) if (groupAlive(pid)) signalGroup(pid, 'SIGKILL');
    this.groups.clear();
    for (const d of this.dirs.reverse()) {
      try {
        fs.rmSync(d, { recursive: true, force: true });
      } catch {
        // best effort: the guardian tries again
      }
    }
    try {
      if (this.guardian?.pid) process.kill(this.guardian.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
    process.off('exit', this.onExit);
  }
}

function signalGroup(pgid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pgid, sig);
  } catch {
    // no such group
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}
