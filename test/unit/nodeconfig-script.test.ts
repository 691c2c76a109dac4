import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { memoryLogger } from '../../src/core/log.ts';
import { MasterClient } from '../../src/core/net/client.ts';
import { fetchNodeConfig, parseNodeConfig } from '../../src/core/protocol/nodeconfig.ts';
import { checkScriptType, fetchScript } from '../../src/core/protocol/script.ts';
import { parseMasterList } from '../../src/core/settings/masters.ts';
import { sampleFixture } from '../helpers/master/fixtures.ts';
import { startMaster, type RunningMaster } from '../helpers/master/server.ts';

let m: RunningMaster;
const HW = '00:11:22:33:44:55';
const client = () =>
  new MasterClient({
    masters: parseMasterList(m.address),
    scheme: 'http',
    connect: { sourcePort: 'any', connectTimeoutMs: 2000 },
    idleTimeoutMs: 2000,
    retry: { attempts: 2, stepMs: 0 },
    log: memoryLogger(),
  });

test.before(async () => {
  m = await startMaster(sampleFixture());
});
test.after(() => m.stop());

test('node configuration: text kept as sent, values parsed', async () => {
  const c = client();
  const cfg = await fetchNodeConfig(c, HW);
  assert.is(cfg.vars.get('WWNAME'), 'n0000');
  assert.is(cfg.vars.get('WWVNFS_CHECKSUM'), await m.vnfsChecksum('sample'));
  assert.match(cfg.text, /^WWNAME="n0000"\nexport WWNAME$/m);
  assert.equal(cfg.rejected, []);
  c.close();
});

test('node configuration: unknown node in both dialects, embedded error, HTML garbage', async () => {
  const c = client();
  for (const dialect of ['development', 'master'] as const) {
    m.options.dialect = dialect;
    await fetchNodeConfig(c, 'ff:ff').then(
      () => assert.unreachable(),
      (e) => assert.match(e.message, /404|empty node configuration/),
    );
  }
  m.options.dialect = 'development';
  m.options.fault = () => ({ kind: 'embedded', status: 403 });
  await fetchNodeConfig(c, HW).then(
    () => assert.unreachable(),
    (e) => assert.match(e.message, /embedded error status 403/),
  );
  m.options.fault = () => ({ kind: 'body', body: '<html><body>It works!</body></html>\n' });
  await fetchNodeConfig(c, HW).then(
    () => assert.unreachable(),
    (e) => assert.match(e.message, /not node configuration/),
  );
  m.options.fault = undefined;
  c.close();
});

test('parseNodeConfig reports lines a shell would not read', () => {
  const cfg = parseNodeConfig('WWA="1"\nexport WWA\nWWB="unterminated\ngarbage line\n');
  assert.is(cfg.vars.get('WWA'), '1');
  assert.equal(cfg.rejected, [3, 4]);
});

test('scripts: only shell-format objects, concatenated; types validated', async () => {
  const c = client();
  assert.is((await fetchScript(c, HW, 'runtime')).toString(), '#!/bin/sh\necho runtime one\necho runtime two\n');
  assert.is((await fetchScript(c, HW, 'nosuch')).length, 0);
  for (const t of ['', 'a/b', 'x y', '../etc', 'a&b=c']) assert.throws(() => checkScriptType(t), /invalid script type/);
  c.close();
});

test.run();
