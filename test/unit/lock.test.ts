import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { tryLock } from '../../src/core/lock.ts';

test('second taker is refused while held, succeeds after release', async () => {
  const key = `/test/${process.pid}/${Math.random()}`;
  const a = await tryLock('t', key);
  assert.ok(a);
  assert.is(await tryLock('t', key), null);
  assert.ok(await tryLock('t', `${key}-other`), 'other roots are independent');
  await a!.release();
  const b = await tryLock('t', key);
  assert.ok(b);
  await b!.release();
});

test('a SIGKILLed holder leaves no stale lock', async () => {
  const key = `/test/kill/${process.pid}`;
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', `
    import('${new URL('../../src/core/lock.ts', import.meta.url).pathname}').then(async (m) => {
      const l = await m.tryLock('t', ${JSON.stringify(key)});
      process.stdout.write(l ? 'held\\n' : 'busy\\n');
      setInterval(() => {}, 1000);
    });`], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((r) => child.stdout.once('data', () => r()));
  assert.is(await tryLock('t', key), null);
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  const l = await tryLock('t', key);
  assert.ok(l, 'lock free after the holder died');
  await l!.release();
});

test.run();
