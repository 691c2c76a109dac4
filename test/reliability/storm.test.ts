// Regression slice of the storm rig (bench/storm/storm.ts, issue 17): a few simulated nodes boot
// at once against a master built like the genuine one (Apache prefork + the rig's mod_perl handler
// + MariaDB, each Apache child with its own database connection), with upstream's sh + curl loop
// and with the built wwgetfiles. Needs root and the storm packages of test/prerequisites.txt.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { storm } from '../../bench/storm/storm.ts';

const log = (l: string) => console.log(l);

test('6 nodes boot at once: both patterns complete and correct; the rig measured requests, connections and busy workers', async () => {
  const run = await storm({ nodes: [6], patterns: ['upstream', 'ours'], mode: 'boot', firstCpuMs: 100, limitS: 100, log });
  assert.equal(run.selfCheck, [], 'the master answers nodeconfig, the runtime script and the embedded 404');
  assert.is(run.phases.length, 2);
  const [up, ours] = run.phases;
  for (const p of run.phases) {
    const s = p.summary;
    assert.is(s.correct, 6, `${p.pattern}: ${JSON.stringify(p.outcomes.find((o) => !o.correct)?.wrong.slice(0, 3))}`);
    assert.is(s.gaveUp, 0);
    assert.is(s.killed, 0);
    assert.is(s.http5xx, 0);
    assert.ok(
      p.samples.some((x) => !x.unanswered),
      'mod_status was sampled',
    );
    assert.ok(s.busyPeak >= 1 && s.childrenPeak >= 5, `busy ${s.busyPeak}, children ${s.childrenPeak}`);
    assert.ok(p.cpu.apache > 0 && p.cpu.db > 0, 'master CPU measured');
  }
  // Upstream: the list and one request per object (203), each on a fresh connection.
  assert.is(up.summary.requests, 6 * 204);
  assert.is(up.summary.connections, up.summary.requests);
  // Ours: the list and every object but the 9 directories, over keep-alive connections, each closed after
  // 1 s idle or when the window shrinks (net/pace.ts): far fewer than upstream's one per request.
  assert.is(ours.summary.requests, 6 * 195);
  assert.ok(ours.summary.connections <= up.summary.connections / 5, `${ours.summary.connections} connections`);
});

test('children past MariaDB max_connections answer HTTP 500; our nodes retry and complete', async () => {
  // 12 nodes starting together hold at least one connection each, so ~12 Apache children or more (each
  // node's window starts at one request: net/pace.ts); MariaDB's minimum max_connections is 10.
  const run = await storm({ nodes: [12], patterns: ['ours'], maxConnections: 10, firstCpuMs: 50, limitS: 300, selfCheck: false, log });
  const [p] = run.phases;
  assert.ok(p.summary.http500 > 0, 'some requests met a child without a database connection');
  assert.is(p.summary.http500, p.db.refusedTooMany, 'each 500 is a refused database connect');
  assert.is(p.summary.correct, 12, JSON.stringify(p.outcomes.find((o) => !o.correct)?.wrong.slice(0, 3)));
});

test.run();
