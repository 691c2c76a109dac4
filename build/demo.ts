// npm run demo: starts the test master on loopback with a sample node, runs the
// BUILT executables against a scratch root, and shows what they did.
import { existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sampleFixture } from '../test/helpers/master/fixtures.ts';
import { startMaster } from '../test/helpers/master/server.ts';
import { ROOT, bin, run } from '../test/helpers/exec.ts';
import { walkTree } from '../test/helpers/tree.ts';
import { HWADDR as HW } from '../test/helpers/node.ts';

const master = await startMaster(sampleFixture(), { privilegedPorts: process.getuid?.() === 0 });
const work = mkdtempSync(join(tmpdir(), 'wwdemo-'));
const root = join(work, 'newroot');
const sysroot = join(work, 'sysroot'); // empty: settings come from the environment only
for (const d of [root, sysroot]) (await import('node:fs')).mkdirSync(d);
const env = { WWMASTER: master.address, WWINIT_HWADDR: HW, NEWROOT: root };

async function show(title: string, tool: string, args: string[], extraEnv: Record<string, string> = {}) {
  console.log(`\n$ ${[tool, ...args].join(' ')}    # ${title}`);
  const r = await run(bin(tool), ['--sysroot', sysroot, ...args], { env: { ...env, ...extraEnv } });
  if (r.stdout) process.stdout.write(r.stdout.replace(/^/gm, '  '));
  if (r.stderr) process.stdout.write(r.stderr.replace(/^/gm, '  '));
  console.log(`  (exit ${r.code})`);
}

function tree(dir: string): void {
  for (const { rel, st, type, mode, link } of walkTree(dir)) {
    const kind =
      type === 'link'
        ? `-> ${link}`
        : type === 'dir'
          ? '/'
          : type === 'fifo'
            ? '(fifo)'
            : type === 'char' || type === 'block'
              ? `(${type} ${st.rdev >> 8},${st.rdev & 255})`
              : `${st.size} bytes`;
    console.log(`  ${mode.toString(8).padStart(4, '0')} ${String(st.uid).padStart(4)}:${String(st.gid).padEnd(4)} ${rel} ${kind}`);
  }
}

console.log(`test master on ${master.url} serving node n0000 (hwaddr ${HW}); scratch root ${root}`);
await show('the node configuration, as the initramfs sources it', 'wwgetnodeconfig', []);
await show('the runtime script, printed only once complete', 'wwgetscript', ['runtime']);
await show("install the node's file objects", 'wwgetfiles', ['--no-delay']);
console.log(`\nthe scratch root now holds:`);
tree(root);
await show('again: the mark says nothing is newer, nothing is written', 'wwgetfiles', ['--no-delay']);
await show('what would a full resync change? nothing', 'wwgetfiles', ['--no-delay', '--dry-run', '-F']);
await show("unpack the node's VNFS image somewhere safe", 'wwgetvnfs', ['--target', join(work, 'vnfs')]);
await show('an unknown node: clear error, exit 2', 'wwgetfiles', ['--no-delay'], { WWINIT_HWADDR: 'de:ad:be:ef:00:01' });

// The bootstrap step, as the initramfs runs it after the VNFS is unpacked into NEWROOT.
const shell = existsSync('/bin/busybox') ? ['/bin/busybox', 'sh'] : ['/bin/sh'];
console.log(`\n$ NEWROOT=${root} ${shell.join(' ')} bootstrap/wwruntime-step    # install the runtime services`);
const step = await run(shell[0], [...shell.slice(1), join(ROOT, 'bootstrap/wwruntime-step')], {
  env: {
    PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
    NEWROOT: root,
    WWMASTER: master.address,
    WWINIT_HWADDR: HW,
    WWNODENAME: 'n0000',
    WWRUNTIME_SOURCE: join(ROOT, 'dist'),
    WWRUNTIME_HOSTROOT: sysroot,
  },
});
process.stdout.write((step.stdout + step.stderr).replace(/^/gm, '  '));
console.log(`  (exit ${step.code})`);
for (const n of readdirSync(join(root, 'warewulf/bin')).sort()) {
  const p = join(root, 'warewulf/bin', n);
  console.log(`  warewulf/bin/${n}${lstatSync(p).isSymbolicLink() ? ` -> ${readlinkSync(p)}` : ` (${lstatSync(p).size} bytes)`}`);
}
console.log(`  etc/cron.d/wwrunscript:\n${readFileSync(join(root, 'etc/cron.d/wwrunscript'), 'utf8').replace(/^/gm, '    ')}`);
for (const n of readdirSync(join(root, 'warewulf/lib')).sort())
  console.log(`  warewulf/lib/${n} (${lstatSync(join(root, 'warewulf/lib', n)).size} bytes)`);
// The installed executables name /warewulf/lib/LOADER as their interpreter: on the node that is
// this root's lib/. Here, outside a chroot, hand them to that loader explicitly (as the launchers do).
const lib = join(root, 'warewulf/lib');
const loader = readdirSync(lib).find((n) => n.startsWith('ld-linux')) as string;
const v = await run(join(lib, loader), [
  '--library-path',
  lib,
  '--argv0',
  'wwgetscript',
  join(root, 'warewulf/bin/wwgetscript'),
  '--version',
]);
console.log(
  `$ ${join(lib, loader)} --library-path ${lib} --argv0 wwgetscript ${join(root, 'warewulf/bin/wwgetscript')} --version\n  ${v.stdout.trim()}${v.stderr.trim()}`,
);

// Monitoring (README "Monitoring"): every run above left its record in ROOT/var/lib/wwruntime/status;
// the runs on the node root feed `wwruntime status` and node_exporter's textfile.
async function node(title: string, tool: string, args: string[], extraEnv: Record<string, string> = {}) {
  console.log(`\n$ ${[tool, ...args].join(' ')}    # ${title}`);
  const r = await run(bin(tool), args, { env: { ...env, ...extraEnv } });
  if (r.stdout) process.stdout.write(r.stdout.replace(/^(?=.)/gm, '  '));
  if (r.stderr) process.stdout.write(r.stderr.replace(/^(?=.)/gm, '  '));
  console.log(`  (exit ${r.code})`);
  return r;
}
const textfiles = join(root, 'var/lib/node_exporter/textfile_collector');
(await import('node:fs')).mkdirSync(textfiles, { recursive: true });
await node('the cron job of the runtime script, on the node root', 'wwgetscript', ['--sysroot', root, '-q', 'runtime']);
await node('the cron job of wwgetfiles (node_exporter textfile directory present)', 'wwgetfiles', ['--sysroot', root, '--no-delay', '-q']);
await node('the monitoring check (Nagios/Icinga plugin, NRPE, Slurm HealthCheckProgram)', 'wwruntime', ['status', '--root', root]);
const j = await run(bin('wwruntime'), ['status', '--root', root, '--json']);
const parsed = JSON.parse(j.stdout);
console.log(`\n$ wwruntime status --root ${root} --json    # (its wwgetfiles part)`);
console.log(
  `${JSON.stringify({ state: parsed.state, wwgetfiles: parsed.tools.wwgetfiles }, null, 2).replace(/^/gm, '  ')}\n  (exit ${j.code})`,
);
console.log(`\n$ grep wwgetfiles ${join(textfiles, 'wwruntime.prom')}    # what node_exporter serves`);
for (const l of readFileSync(join(textfiles, 'wwruntime.prom'), 'utf8').split('\n'))
  if (/^wwruntime.*wwgetfiles/.test(l)) console.log(`  ${l}`);

await master.stop();
console.log(`\n(scratch files left in ${work})`);
