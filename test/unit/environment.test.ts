// src/tools/environment.ts: what the executables remove from their environment before anything reads
// it (the built executables are tested in test/e2e/environment.test.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SCRUBBED, scrubEnvironment } from '../../src/tools/environment.ts';

test('removes exactly the listed variables; settings and everything else stay', () => {
  const env: NodeJS.ProcessEnv = {
    WWMASTER: '10.0.0.1',
    WWINIT_HWADDR: 'aa',
    PATH: '/bin',
    NODE_TLS_REJECT_UNAUTHORIZED: '0',
    UV_THREADPOOL_SIZE: '128',
    http_proxy: 'http://p:3128',
    HTTPS_PROXY: 'http://p:3128',
    RES_OPTIONS: 'ndots:9',
    TZ: 'UTC',
  };
  assert.equal(scrubEnvironment(env).sort(), [
    'HTTPS_PROXY',
    'NODE_TLS_REJECT_UNAUTHORIZED',
    'RES_OPTIONS',
    'UV_THREADPOOL_SIZE',
    'http_proxy',
  ]);
  assert.equal(env, { WWMASTER: '10.0.0.1', WWINIT_HWADDR: 'aa', PATH: '/bin', TZ: 'UTC' });
  assert.equal(scrubEnvironment(env), [], 'twice: nothing more');
});

test('no WW setting, and nothing the tools read, is in the list', () => {
  for (const name of Object.keys(SCRUBBED)) assert.not.match(name, /^WW|^NEWROOT$|^SLEEPTIME$|^PATH$/, name);
  for (const [name, why] of Object.entries(SCRUBBED)) assert.ok(why.length > 10, `${name}: says why`);
});

test.run();
