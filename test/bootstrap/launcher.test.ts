// The launcher (build/launcher.sh, built as dist/ARCH/NAME) found through relative symbolic
// links, however it is started: `sh NAME` from the link's folder ($0 without a slash), ./NAME,
// a chain of links, a link to a link in another folder.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync } from 'node:fs';
import { join, relative } from 'node:path';
import { DIST, scratch, SHELLS } from './harness.ts';

const version = (r: ReturnType<typeof spawnSync>, tool: string) => {
  assert.is(r.status, 0, `${r.stderr}`);
  assert.ok(String(r.stdout).startsWith(`${tool} `), `${r.stdout}${r.stderr}`);
};

test('a relative link to the launcher: `sh NAME` and `./NAME` from its folder, under busybox sh and dash', () => {
  const s = scratch();
  try {
    const links = join(s.dir, 'links');
    mkdirSync(links);
    symlinkSync(relative(links, join(DIST, 'linux-x64/wwgetscript')), join(links, 'wwgetscript'));
    // a chain: a -> b (no slash in either target) -> the launcher, relative
    symlinkSync('wwgetscript', join(links, 'b'));
    symlinkSync('b', join(links, 'wwgetnodeconfig'));
    const env = { PATH: process.env.PATH ?? '/bin' };
    for (const shell of SHELLS) {
      version(spawnSync(shell[0], [...shell.slice(1), 'wwgetscript', '--version'], { cwd: links, env, encoding: 'utf8' }), 'wwgetscript');
      // the chain ends at the launcher; the tool is the name it was started by
      version(
        spawnSync(shell[0], [...shell.slice(1), 'wwgetnodeconfig', '--version'], { cwd: links, env, encoding: 'utf8' }),
        'wwgetnodeconfig',
      );
    }
    version(spawnSync('./wwgetscript', ['--version'], { cwd: links, env, encoding: 'utf8' }), 'wwgetscript');
    // from another folder, through a link that is itself reached by a relative path
    mkdirSync(join(s.dir, 'other'));
    symlinkSync('../links/wwgetscript', join(s.dir, 'other/wwgetscript'));
    version(spawnSync('sh', ['other/wwgetscript', '--version'], { cwd: s.dir, env, encoding: 'utf8' }), 'wwgetscript');
  } finally {
    s.cleanup();
  }
});

test.run();
