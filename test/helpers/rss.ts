// One run of a command with its wall time and peak RSS as wait4() reports it
// (ru_maxrss: for a pipeline, its largest process, as /usr/bin/time shows).
// Node cannot read a child's rusage, so a tiny python3 helper runs the command.
import { execFile } from 'node:child_process';

export interface Measured {
  ms: number;
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

/** Runs argv under env -i semantics (only `env`), without blocking the event loop. */
export function measureOnce(argv: string[], o: { env?: Record<string, string>; cwd?: string } = {}): Promise<Measured> {
  return new Promise((resolve, reject) => {
    execFile(
      'python3',
      ['-c', PY_ONE, JSON.stringify({ argv, env: o.env ?? {}, cwd: o.cwd ?? '/' })],
      { encoding: 'utf8', maxBuffer: 1 << 26 },
      (err, out) => (err ? reject(err) : resolve(JSON.parse(out) as Measured)),
    );
  });
}
