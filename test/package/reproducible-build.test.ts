// The build itself is reproducible: building into a fresh folder gives the same executables,
// runtime and capability (and the lean capability with its blob) byte for byte as the build in dist/ (so two `npm run package` runs
// from fresh dist/ folders give identical releases, issue 11). The V8 code cache made the
// blob differ from build to build; the build now makes none.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/exec.ts';

const ARCH = 'linux-x64';

test(`a build into a fresh folder gives identical ${ARCH} executables, runtime and capability`, () => {
  const fresh = mkdtempSync('/tmp/wwbuild-fresh-');
  try {
    const r = spawnSync(process.execPath, [join(ROOT, 'build/build.mjs'), '--quiet', '--arch', ARCH], {
      env: { ...process.env, WWRUNTIME_DIST: fresh },
      encoding: 'utf8',
      timeout: 600_000,
    });
    assert.is(r.status, 0, `fresh build: ${r.stderr}`);
    const sums = (dist: string) => readFileSync(join(dist, ARCH, 'SHA256SUMS'), 'utf8');
    assert.ok(/bin\/wwruntime/.test(sums(fresh)), 'the fresh build lists its executables');
    assert.fixture(sums(fresh), sums(join(ROOT, 'dist')));
    const cpio = (dist: string) => readFileSync(join(dist, 'capability', `provision-wwruntime.${ARCH}.cpio`));
    assert.ok(cpio(fresh).equals(cpio(join(ROOT, 'dist'))), 'capability cpio differs between two builds');
    // the lean capability (opt-in) and its runtime blob, whose name carries its SHA256
    const lean = (dist: string) => readFileSync(join(dist, 'capability', `provision-wwruntime-lean.${ARCH}.cpio`));
    assert.ok(lean(fresh).equals(lean(join(ROOT, 'dist'))), 'lean capability cpio differs between two builds');
    const blobs = (dist: string) => readdirSync(join(dist, 'capability/bootstrap/wwruntime/x86_64'));
    assert.equal(
      blobs(fresh),
      blobs(join(ROOT, 'dist')).filter((n) => n.includes(`-${ARCH}-`)),
      'the same runtime blob',
    );
  } finally {
    rmSync(fresh, { recursive: true, force: true });
  }
});

test.run();
