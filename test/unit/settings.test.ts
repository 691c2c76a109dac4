import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { WwError } from '../../src/core/errors.ts';
import {
  loadSettings, parseCmdline, parseMasterList, resolveHwaddr, resolveMasters, resolveScheme, secondsSetting,
} from '../../src/core/settings.ts';

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
  const s = loadSettings({ env: {}, readFile: files({ '/etc/network.conf': "DHCP_SERVER='10.9.9.9'\n", '/proc/cmdline': 'wwmaster=1.1.1.1' }) });
  assert.is(s.get('WWMASTER'), '10.9.9.9');
  assert.is(s.sourceOf('WWMASTER'), 'network.conf');
  const c = loadSettings({ env: {}, readFile: files({ '/proc/cmdline': 'wwmaster=1.1.1.1:8080,2.2.2.2' }) });
  assert.equal(resolveMasters(c).map((m) => [m.host, m.port]), [['1.1.1.1', 8080], ['2.2.2.2', undefined]]);
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
  assert.equal(parseMasterList(' a.example:81 , [fd00::1]:8080,b').map((m) => [m.host, m.port]), [
    ['a.example', 81], ['fd00::1', 8080], ['b', undefined],
  ]);
  assert.throws(() => parseMasterList('a b'), /invalid master/);
  assert.throws(() => parseMasterList('host:99999'), /invalid port/);
  assert.throws(() => parseMasterList('evil/path'), /invalid master/);
});

test('cmdline: only ww* keys, key upper-cased, value kept', () => {
  const m = parseCmdline('BOOT_IMAGE=/vmlinuz wwmaster=Host:80 WWDEBUG=1 ww= wwempty= root=/dev/sda\n');
  assert.equal([...m.entries()], [['WWMASTER', 'Host:80'], ['WWDEBUG', '1']]);
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

test('scheme and seconds settings', () => {
  const s = (v: Record<string, string>) => loadSettings({ env: v, readFile: () => undefined });
  assert.is(resolveScheme(s({})), 'http');
  assert.is(resolveScheme(s({ WWHTTP: 'HTTPS' })), 'https');
  assert.throws(() => resolveScheme(s({ WWHTTP: 'ftp' })), /WWHTTP/);
  assert.is(secondsSetting(s({ X: '180' }), 'X'), 180);
  assert.is(secondsSetting(s({ X: '' }), 'X'), undefined);
  assert.throws(() => secondsSetting(s({ X: '-1' }), 'X'), /whole number/);
});

test.run();
