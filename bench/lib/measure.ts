// Wall time and peak RSS of short-lived commands. Node cannot read a child's
// rusage, so a tiny python3 helper runs the command and reads wait4()'s
// ru_maxrss (exact, unlike polling /proc for a 50 ms process).
import { execFile, execFileSync } from 'node:child_process';

export interface Sample {
  ms: number[];
  rssKiB: number[];
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

export interface Measured {
  ms: number;
  /** ru_maxrss from wait4: the largest single process of the command's tree (as /usr/bin/time reports it). */
  rssKiB: number;
  code: number;
  stderr: string;
}

const PY_ONE = `
import json, os, subprocess, sys, tempfile, time
spec = json.loads(sys.argv[1])
err = tempfile.TemporaryFile()
t0 = time.perf_counter()
p = subprocess.Popen(spec["argv"], env=spec["env"], cwd=spec["cwd"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
_, status, ru = os.wait4(p.pid, 0)
ms = (time.perf_counter() - t0) * 1000
err.seek(0)
print(json.dumps({"ms": ms, "rssKiB": ru.ru_maxrss, "code": os.waitstatus_to_exitcode(status), "stderr": err.read().decode("utf-8", "replace")}))
`;

/** One run of a longer command (wall time, peak RSS from wait4, exit code, stderr), without blocking the event loop. */
export function measureOnce(argv: string[], o: { env?: Record<string, string>; cwd?: string } = {}): Promise<Measured> {
  return new Promise((resolve, reject) => {
    execFile('python3', ['-c', PY_ONE, JSON.stringify({ argv, env: o.env ?? {}, cwd: o.cwd ?? '/' })], { encoding: 'utf8', maxBuffer: 1 << 26 }, (err, out) =>
      err ? reject(err) : resolve(JSON.parse(out) as Measured),
    );
  });
}
