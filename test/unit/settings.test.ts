import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { WwError } from '../../src/core/errors.ts';
import { loadSettings, parseCmdline } from '../../src/core/settings/sources.ts';
import { parseMasterList, resolveMasters } from '../../src/core/settings/masters.ts';
import {
  SLEEPTIME,
  WWGETFILES_INTERVAL,
  WWRUNTIME_MAX_RUN,
  resolveHwaddr,
  resolveScheme,
  secondsSetting,
  flagSetting,
} from '../../src/core/settings/node.ts';

const files = (m: Record<string, string>) => (p: string) => m[p];

test('environment beats config beats network.conf beats cmdline', () => {
  const read = files({
    '/warewulf/config': 'WWMASTER=10.0.0.2\nexport WWMASTER\nWWNAME="n1"\n',
    '/etc/network.conf': 'DHCP_SERVER=10.0.0.3\n',
    '/proc/cmdline': 'quiet wwmaster=10.0.0.4 wwinit_hwaddr=AA:BB\n',
  });
  const s = loadSettings({ env: { WWMASTER: '10.0.0.1' }, readFile: read });
  assert.is(s.get('WWMASTER'), '10.0.0.1');
  assert.is(s.sourceOf('WWMASTER'), 'environment');
  const s2 = loadSettings({ env: {}, readFile: read });
  assert.is(s2.get('WWMASTER'), '10.0.0.2');
  assert.is(s2.get('WWNAME'), 'n1');
  assert.is(s2.get('WWINIT_HWADDR'), 'AA:BB');
  assert.is(s2.sourceOf('WWINIT_HWADDR'), 'cmdline');
});

test('network.conf DHCP_SERVER is the master of last resort before cmdline', () => {
  const s = loadSettings({
    env: {},
    readFile: files({ '/etc/network.conf': "DHCP_SERVER='10.9.9.9'\n", '/proc/cmdline': 'wwmaster=1.1.1.1' }),
  });
  assert.is(s.get('WWMASTER'), '10.9.9.9');
  assert.is(s.sourceOf('WWMASTER'), 'network.conf');
  const c = loadSettings({ env: {}, readFile: files({ '/proc/cmdline': 'wwmaster=1.1.1.1:8080,2.2.2.2' }) });
  assert.equal(
    resolveMasters(c).map((m) => [m.host, m.port]),
    [
      ['1.1.1.1', 8080],
      ['2.2.2.2', undefined],
    ],
  );
});

test('an empty environment value still wins (explicitly empty), unset falls through', () => {
  const s = loadSettings({ env: { WWHTTP: undefined, NEWROOT: '' }, readFile: files({ '/warewulf/config': 'WWHTTP=https\nNEWROOT=/x' }) });
  assert.is(s.get('WWHTTP'), 'https');
  assert.is(s.get('NEWROOT'), '');
});

test('no master anywhere is the upstream error', () => {
  const s = loadSettings({ env: {}, readFile: () => undefined });
  try {
    resolveMasters(s);
    assert.unreachable();
  } catch (e) {
    assert.instance(e, WwError);
    assert.is((e as WwError).message, 'Could not identify master node!');
    assert.is((e as WwError).exitCode, 2);
  }
});

test('master list parsing: ports, IPv6, junk refused', () => {
  assert.equal(
    parseMasterList(' a.example:81 , [fd00::1]:8080,b').map((m) => [m.host, m.port]),
    [
      ['a.example', 81],
      ['fd00::1', 8080],
      ['b', undefined],
    ],
  );
  assert.throws(() => parseMasterList('a b'), /invalid master/);
  assert.throws(() => parseMasterList('host:99999'), /invalid port/);
  assert.throws(() => parseMasterList('evil/path'), /invalid master/);
});

test('cmdline: only ww* keys, key upper-cased, value kept', () => {
  const m = parseCmdline('BOOT_IMAGE=/vmlinuz wwmaster=Host:80 WWDEBUG=1 ww= wwempty= root=/dev/sda\n');
  assert.equal(
    [...m.entries()],
    [
      ['WWMASTER', 'Host:80'],
      ['WWDEBUG', '1'],
    ],
  );
});

test('hwaddr: lower-cased, validated, InfiniBand GUID tail', () => {
  const get = (v: string) => ({ get: () => v, sourceOf: () => 'environment' as const });
  assert.is(resolveHwaddr(get('AA:BB:CC:DD:EE:FF')), 'aa:bb:cc:dd:ee:ff');
  const ib = '80:00:02:08:fe:80:00:00:00:00:00:00:00:02:c9:03:00:0e:8a:c1'.toUpperCase();
  assert.is(ib.length, 59);
  assert.is(resolveHwaddr(get(ib)), '00:02:c9:03:00:0e:8a:c1');
  assert.throws(() => resolveHwaddr(get('aa:bb&x=1')), /not a hardware address/);
  assert.throws(() => resolveHwaddr({ get: () => undefined, sourceOf: () => undefined }), /WWINIT_HWADDR is not set/);
});

test('scheme', () => {
  const s = (v: Record<string, string>) => loadSettings({ env: v, readFile: () => undefined });
  assert.is(resolveScheme(s({})), 'http');
  assert.is(resolveScheme(s({ WWHTTP: 'HTTPS' })), 'https');
  assert.throws(() => resolveScheme(s({ WWHTTP: 'ftp' })), /WWHTTP/);
});

test('seconds settings: the shared whole-number grammar and ranges (as the bootstrap reads them)', () => {
  assert.equal([WWGETFILES_INTERVAL.min, WWGETFILES_INTERVAL.max, WWGETFILES_INTERVAL.default], [0, 86400, 180]);
  assert.equal([WWRUNTIME_MAX_RUN.min, WWRUNTIME_MAX_RUN.max, WWRUNTIME_MAX_RUN.default], [1, 86400, 280]);
  assert.equal([SLEEPTIME.min, SLEEPTIME.max, SLEEPTIME.default], [0, 86400, undefined]);
  const warnings: string[] = [];
  const get = (v: string | undefined, spec = WWGETFILES_INTERVAL) =>
    secondsSetting(loadSettings({ env: { [spec.key]: v }, readFile: () => undefined }), spec, (l) => warnings.push(l));
  assert.is(get('180'), 180);
  assert.is(get(' 010 '), 10, '010 means ten');
  assert.is(get('0'), 0);
  assert.is(get('86400'), 86400);
  assert.is(get(undefined), 180, 'unset: the default, quietly');
  assert.is(get(''), 180, 'empty: the default, quietly');
  assert.is(get('  '), 180, 'blank: the default, quietly');
  assert.equal(warnings, []);
});

test('seconds settings: a bad value is one warning line and the documented default, never an abort', () => {
  const warnings: string[] = [];
  const get = (v: string, spec = WWGETFILES_INTERVAL) =>
    secondsSetting(loadSettings({ env: { [spec.key]: v }, readFile: () => undefined }), spec, (l) => warnings.push(l));
  assert.is(get('09x'), 180);
  assert.equal(warnings, ["WWGETFILES_INTERVAL='09x' is not a whole number of seconds in 0..86400, using 180"]);
  for (const v of ['-1', '+5', '0x10', '1.5', '86401', '99999999999999999999', '1e3']) {
    warnings.length = 0;
    assert.is(get(v), 180, v);
    assert.is(warnings.length, 1, v);
  }
  warnings.length = 0;
  assert.is(get('0', WWRUNTIME_MAX_RUN), 280);
  assert.equal(warnings, ["WWRUNTIME_MAX_RUN='0' is not a whole number of seconds in 1..86400, using 280"]);
  warnings.length = 0;
  assert.is(get('soon', SLEEPTIME), undefined);
  assert.equal(warnings, ["SLEEPTIME='soon' is not a whole number of seconds in 0..86400, using the random start delay"]);
  // What an admin typed is shown on one line, whatever it holds.
  warnings.length = 0;
  get(`1\nrm -rf /${'x'.repeat(100)}`);
  assert.is(warnings.length, 1);
  assert.not.match(warnings[0], /\n/);
  assert.match(warnings[0], /^WWGETFILES_INTERVAL='1\\nrm -rf \/x+\.\.\.' is not/);
});

test('WWMASTER: a bad entry is skipped with a warning naming it; the good ones are used in order', () => {
  const warnings: string[] = [];
  const masters = (v: string) =>
    resolveMasters(loadSettings({ env: { WWMASTER: v }, readFile: () => undefined }), (l) => warnings.push(l)).map((m) => m.label);
  assert.equal(masters('garb@ge!,good'), ['good']);
  assert.equal(warnings, ["WWMASTER entry 'garb@ge!' is not host[:port]; skipped"]);
  warnings.length = 0;
  assert.equal(masters('a:99999,b:0080,,c d,[fd00::1]:81'), ['b:0080', '[fd00::1]:81']);
  assert.equal(warnings, [
    "WWMASTER entry 'a:99999' has a port outside 1..65535; skipped",
    "WWMASTER entry 'c d' is not host[:port]; skipped",
  ]);
  assert.is(parseMasterList('b:0080')[0].port, 80, 'leading zeros in a port');
  // None valid: the upstream error (exit 2).
  try {
    masters('garb@ge!,also bad');
    assert.unreachable();
  } catch (e) {
    assert.instance(e, WwError);
    assert.is((e as WwError).code, 'WW_NO_MASTER');
    assert.is((e as WwError).message, 'Could not identify master node!');
  }
});

test('0/1 settings (WWVALIDATE_VNFS): the same grammar; anything else warns and means 0', () => {
  const warnings: string[] = [];
  const flag = (v: string | undefined) =>
    flagSetting(
      loadSettings({ env: { WWVALIDATE_VNFS: v }, readFile: () => undefined }),
      'WWVALIDATE_VNFS',
      (l) => warnings.push(l),
      'no verification',
    );
  assert.equal([flag('1'), flag(' 01 '), flag('0'), flag(''), flag(undefined)], [true, true, false, false, false]);
  assert.equal(warnings, []);
  assert.is(flag('yes'), false);
  assert.is(flag('2'), false);
  assert.equal(warnings, [
    "WWVALIDATE_VNFS='yes' is not 0 or 1, using 0 (no verification)",
    "WWVALIDATE_VNFS='2' is not 0 or 1, using 0 (no verification)",
  ]);
});

test.run();
