// Wall time and peak RSS of short-lived commands. Node cannot read a child's
// rusage, so a tiny python3 helper runs the command and reads wait4()'s
// ru_maxrss (exact, unlike polling /proc for a 50 ms process).
import { execFile, execFileSync } from 'node:child_process';

export interface Sample {
  ms: number[];
  rssKiB: number[];
  /** user + system CPU time of the child (less sensitive than wall time to other load on the machine) */
  cpuMs: number[];
}

const PY = `
import json, os, subprocess, sys, time
spec = json.loads(sys.argv[1])
ms, rss, cpu = [], [], []
for i in range(spec["runs"]):
    t0 = time.perf_counter()
    p = subprocess.Popen(spec["argv"], env=spec["env"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    ms.append((time.perf_counter() - t0) * 1000)
    rss.append(ru.ru_maxrss)
    cpu.append((ru.ru_utime + ru.ru_stime) * 1000)
    if status != 0 and not spec.get("anyStatus"):
        sys.exit("command failed: " + " ".join(spec["argv"]))
print(json.dumps({"ms": ms, "rssKiB": rss, "cpuMs": cpu}))
`;

export function measure(argv: string[], runs: number, env: Record<string, string> = {}, anyStatus = false): Sample {
  const out = execFileSync('python3', ['-c', PY, JSON.stringify({ argv, runs, env, anyStatus })], { encoding: 'utf8' });
  return JSON.parse(out) as Sample;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

/** The same, without blocking the event loop (for benches that host the test master in-process). */
export function measureAsync(argv: string[], runs: number, env: Record<string, string> = {}, anyStatus = false): Promise<Sample> {
  return new Promise((resolve, reject) => {
    execFile('python3', ['-c', PY, JSON.stringify({ argv, runs, env, anyStatus })], { encoding: 'utf8' }, (err, out) =>
      err ? reject(err) : resolve(JSON.parse(out) as Sample),
    );
  });
}
