// src/tools/run.ts: a tool whose main never settles (its event loop ran empty under it: NODE_UNIQUE_ID
// once did that to wwgetfiles' lock) exits 2 with one line, never 0; a warning is one log line.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers/exec.ts';

function runTool(body: string) {
  const dir = mkdtempSync(join(tmpdir(), 'cli-'));
  try {
    const file = join(dir, 'tool.ts');
    writeFileSync(
      file,
      `import { runStandalone } from ${JSON.stringify(join(ROOT, 'src/tools/run.ts'))};\nrunStandalone({ name: 'wwtest', summary: '', main: ${body} });\n`,
    );
    return spawnSync(process.execPath, ['--import', 'tsx', file], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a main that never settles: exit 2 and one line, not a silent exit 0', () => {
  const r = runTool('() => new Promise(() => {})');
  assert.is(r.status, 2, r.stderr);
  assert.is(r.stderr, 'wwtest: ERROR: the run stopped before it finished (nothing was left to wait for)\n');
});

test('a main that settles: its code, nothing added', () => {
  const r = runTool('async () => 0');
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stderr, '');
  assert.is(runTool('async () => 1').status, 1);
});

test('a warning: one line on the log, the run goes on', () => {
  const r = runTool(
    "async () => { process.emitWarning('something odd', 'OddWarning'); await new Promise((res) => setTimeout(res, 20)); return 0; }",
  );
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stderr, /^wwtest: warning: OddWarning: something odd\n/m);
  const plainWarning = runTool(
    "async () => { process.emitWarning('just so'); await new Promise((res) => setTimeout(res, 20)); return 0; }",
  );
  assert.match(plainWarning.stderr, /^wwtest: warning: just so\n/m);
});

test.run();
