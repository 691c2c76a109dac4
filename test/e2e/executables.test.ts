// The built executables themselves: self-contained, checksummed, glibc-portable.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DIST } from '../helpers/exec.ts';

const NAMES = ['wwgetfiles', 'wwgetscript', 'wwgetvnfs', 'wwgetnodeconfig', 'wwruntime'];
const ALLOWED = /^(libc|libm|libdl|libpthread|libstdc\+\+|libgcc_s|ld-linux-x86-64)\.so\.\d+$/;

test('SHA256SUMS lists every executable with its real checksum', () => {
  const sums = readFileSync(join(DIST, 'SHA256SUMS'), 'utf8').trim().split('\n');
  assert.equal(sums.map((l) => l.split(/\s+/)[1]).sort(), [...NAMES].sort());
  for (const line of sums) {
    const [sum, name] = line.split(/\s+/);
    assert.is(createHash('sha256').update(readFileSync(join(DIST, name))).digest('hex'), sum, name);
    assert.ok(statSync(join(DIST, name)).mode & 0o111, `${name} is executable`);
  }
});

test('they need only the system C/C++ runtime, glibc 2.28 at most, and carry no debug symbols', () => {
  for (const name of NAMES) {
    const exe = join(DIST, name);
    const dyn = execFileSync('objdump', ['-p', exe], { encoding: 'utf8' });
    const needed = [...dyn.matchAll(/NEEDED\s+(\S+)/g)].map((m) => m[1]);
    assert.ok(needed.length > 0);
    for (const lib of needed) assert.match(lib, ALLOWED, `${name} needs ${lib}`);
    const syms = execFileSync('objdump', ['-T', exe], { encoding: 'utf8', maxBuffer: 64 << 20 });
    const glibc = [...new Set([...syms.matchAll(/GLIBC_(\d+)\.(\d+)/g)].map((m) => Number(m[1]) * 1000 + Number(m[2])))];
    assert.ok(Math.max(...glibc) <= 2028, `${name} needs glibc ${Math.max(...glibc)}`);
    const sections = execFileSync('objdump', ['-h', exe], { encoding: 'utf8' });
    assert.not.match(sections, /\.debug_info/, `${name} is stripped`);
    // postject flips the sentinel fuse from :0 to :1 when it injects the blob.
    assert.ok(readFileSync(exe).includes('NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2:1'), `${name} carries the SEA blob`);
  }
});

test.run();
