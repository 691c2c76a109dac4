// The judging of `wwruntime status` (core/status/check.ts) on hand-made roots with a fixed clock,
// and the textfile's exposition format (core/status/textfile.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { STATE, checkStatus } from '../../src/core/status/check.ts';
import { STATUS_DIR, type RunRecord } from '../../src/core/status/record.ts';
import { renderMetrics } from '../../src/core/status/textfile.ts';

process.env.TZ = 'UTC';
const NOW = Date.parse('2026-12-02T02:17:41Z');
const S = NOW / 1000;
const me = [process.getuid!()];
const thresholds = { warningIntervals: 2, criticalIntervals: 6 };

function rec(tool: RunRecord['tool'], o: Partial<RunRecord> = {}): RunRecord {
  return {
    format: 1,
    tool,
    state: 'finished',
    start: S - 61,
    end: S - 60,
    exit: 0,
    error: null,
    master: '10.0.0.1',
    counts: null,
    markBefore: null,
    markAfter: null,
    version: '1.2.3',
    pid: 7,
    lastSuccess: S - 60,
    previous: null,
    ...o,
  };
}

function root(records: RunRecord[], cron = '*/5 * * * *'): string {
  const r = mkdtempSync(join(tmpdir(), 'status-check-'));
  mkdirSync(join(r, STATUS_DIR), { recursive: true });
  mkdirSync(join(r, 'etc/cron.d'), { recursive: true });
  for (const job of ['wwupdatefiles', 'wwrunscript']) writeFileSync(join(r, 'etc/cron.d', job), `${cron} root true\n`);
  for (const x of records) writeFileSync(join(r, STATUS_DIR, `${x.tool}.json`), JSON.stringify(x));
  return r;
}
const check = (r: string, t = thresholds) => checkStatus({ rootReal: r, now: NOW, trusted: me, thresholds: t });

test("OK, then WARNING past 2 intervals, CRITICAL past 6; the interval is the schedule's", async () => {
  const ok = await check(root([rec('wwgetfiles'), rec('wwgetscript')]));
  assert.is(ok.state, STATE.OK);
  assert.is(
    ok.summary,
    'WWRUNTIME OK - wwgetfiles last success 60s ago; wwgetscript last success 60s ago; wwgetvnfs no record; boot no record',
  );
  const warn = await check(root([rec('wwgetfiles', { end: S - 700, lastSuccess: S - 700 }), rec('wwgetscript')]));
  assert.is(warn.state, STATE.WARNING);
  assert.match(warn.summary, /wwgetfiles WARNING last success 11m ago, warning 10m/);
  const crit = await check(root([rec('wwgetfiles', { end: S - 1900, lastSuccess: S - 1900 }), rec('wwgetscript')]));
  assert.is(crit.state, STATE.CRITICAL);
  // Hourly jobs: 700 s is well within 2 intervals.
  assert.is((await check(root([rec('wwgetfiles', { lastSuccess: S - 700 }), rec('wwgetscript')], '0 * * * *'))).state, STATE.OK);
  assert.match(
    ok.perfdata,
    /^wwgetfiles_success_age=60s;600;1800;0 wwgetfiles_duration=1s;;;0 wwgetfiles_exit=0;;;0 wwgetscript_success_age=60s;600;1800;0/,
  );
});

test('never succeeded: judged by how long it has tried; a corrupt record is UNKNOWN and outranks a WARNING', async () => {
  const never = await check(
    root([rec('wwgetfiles', { exit: 2, error: 'x', lastSuccess: null, start: S - 4000, end: S - 3990 }), rec('wwgetscript')]),
  );
  assert.is(never.state, STATE.CRITICAL);
  assert.match(never.summary, /wwgetfiles CRITICAL no success in 1h6m, critical 30m, last run failed \(exit 2: x\)/);
  const r = root([rec('wwgetfiles', { exit: 2, error: 'boom' }), rec('wwgetscript')]);
  writeFileSync(join(r, STATUS_DIR, 'boot.json'), '{"format":1,');
  const mixed = await check(r);
  assert.is(mixed.state, STATE.UNKNOWN);
  assert.match(mixed.summary, /wwgetfiles WARNING .*last run failed \(exit 2: boom\); .*boot UNKNOWN record not trusted/);
});

test('no summary character can break the plugin line: | and newlines in an error are replaced', async () => {
  const r = await check(root([rec('wwgetfiles', { exit: 2, error: 'a | b\nc' }), rec('wwgetscript')]));
  assert.not.match(r.summary, /[|\n]/);
});

test('textfile: HELP and TYPE per family, label values escaped, nothing for a record that is not there', () => {
  const text = renderMetrics(
    new Map([
      [
        'wwgetfiles',
        {
          kind: 'ok',
          record: rec('wwgetfiles', { version: 'a"b\\c\nd', counts: { listed: 3, installed: 1, unchanged: 2, failed: 0 }, markAfter: 99 }),
        },
      ],
      ['wwgetscript', { kind: 'bad', why: 'corrupt' }],
    ] as const),
  );
  assert.match(text, /^wwruntime_version_info\{tool="wwgetfiles",version="a\\"b\\\\c\\nd"\} 1$/m);
  assert.match(text, /^wwruntime_record_valid\{tool="wwgetscript"\} 0$/m);
  assert.not.match(text, /wwruntime_last_run_exit_status\{tool="wwgetscript"\}/);
  const families = [...text.matchAll(/^# TYPE (\S+) gauge$/gm)].map((m) => m[1]);
  assert.is(families.length, [...text.matchAll(/^# HELP /gm)].length);
  for (const f of families) assert.match(f, /^wwruntime_[a-z_]+$/);
});

test.run();
