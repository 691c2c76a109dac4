// Wall time and peak RSS of short-lived commands. Node cannot read a child's
// rusage, so a tiny python3 helper runs the command and reads wait4()'s
// ru_maxrss (exact, unlike polling /proc for a 50 ms process).
import { execFile, execFileSync } from 'node:child_process';

export interface Sample {
  ms: number[];
  rssKiB: number[];
  /** User + system CPU time (wait4), steadier than wall time on a loaded machine. */
  cpuMs?: number[];
}

const PY = `
import json, os, subprocess, sys, time
spec = json.loads(sys.argv[1])
ms, rss = [], []
for i in range(spec["runs"]):
    t0 = time.perf_counter()
    p = subprocess.Popen(spec["argv"], env=spec["env"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    ms.append((time.perf_counter() - t0) * 1000)
    rss.append(ru.ru_maxrss)
    if status != 0 and not spec.get("anyStatus"):
        sys.exit("command failed: " + " ".join(spec["argv"]))
print(json.dumps({"ms": ms, "rssKiB": rss}))
`;

export function measure(argv: string[], runs: number, env: Record<string, string> = {}, anyStatus = false): Sample {
  const out = execFileSync('python3', ['-c', PY, JSON.stringify({ argv, runs, env, anyStatus })], { encoding: 'utf8' });
  return JSON.parse(out) as Sample;
}

const PY_ALT = `
import json, os, subprocess, sys, time
spec = json.loads(sys.argv[1])
out = [{"ms": [], "rssKiB": [], "cpuMs": []} for _ in spec["argvs"]]
for i in range(spec["runs"]):
    for k, argv in enumerate(spec["argvs"]):
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, env=spec["env"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, ru = os.wait4(p.pid, 0)
        out[k]["ms"].append((time.perf_counter() - t0) * 1000)
        out[k]["rssKiB"].append(ru.ru_maxrss)
        out[k]["cpuMs"].append((ru.ru_utime + ru.ru_stime) * 1000)
        if status != 0:
            sys.exit("command failed: " + " ".join(argv))
print(json.dumps(out))
`;

/** Several commands, one run of each in turn, `runs` times: load swings hit them all alike. */
export function measureAlternating(argvs: string[][], runs: number, env: Record<string, string> = {}): Sample[] {
  const out = execFileSync('python3', ['-c', PY_ALT, JSON.stringify({ argvs, runs, env })], { encoding: 'utf8' });
  return JSON.parse(out) as Sample[];
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

// One longer run with wait4() RSS: shared with the tests.
export { measureOnce, type Measured } from '../../test/helpers/rss.ts';
