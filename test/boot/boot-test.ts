// npm run boot-test: boots a diskless node end to end under QEMU (TCG) and checks, from outside
// the VM only (the test master's request log and the serial console), what PROTOCOL 7 promises:
// every provision step's status, the VNFS unpacked by our wwgetvnfs (transport wwruntime) or by
// the stand-in http transport with our step after it, switch_root into the image's init, and the
// periodic jobs (cron, or systemd timers) really running wwgetfiles and the runtime script.
//   node --import tsx test/boot/boot-test.ts [--only NAME[,NAME]] [--keep-logs]
// Needs root, qemu-system-x86, debootstrap, cpio, apt access to the Debian mirror (.ci/run).
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { busyboxStatic, debianImage, kernel, packImage, type Image, type Kernel } from './cache.ts';
import { assembleInitramfs, bootVm, resolveWork, type Vm } from './vm.ts';
import type { FileObject, Fixture } from '../helpers/master/fixtures.ts';
import { startMaster, type RequestInfo, type RunningMaster } from '../helpers/master/server.ts';
import { ROOT } from '../helpers/exec.ts';
import { execFileSync } from 'node:child_process';

const HW = '52:54:00:77:00:01';
const BOOT_TIMEOUT = Number(process.env.WW_BOOT_TIMEOUT ?? 420) * 1000;
const only = (() => {
  const i = process.argv.indexOf('--only');
  return i > 0 ? process.argv[i + 1].split(',') : undefined;
})();

// ---- the node's files and scripts on the master

const RUNTIME = `#!/bin/sh
# boot test: the runtime script reports to the console, the only way out of the VM besides the master
f=/etc/wwboot-test.conf
echo "WWRUNTIME ran up=$(cut -d' ' -f1 /proc/uptime) content=[$(cat $f 2>/dev/null)] mode=$(stat -c %a $f 2>/dev/null) link=$(readlink /etc/wwboot.d/current) late=[$(cat /etc/wwboot-late.conf 2>/dev/null)]" >/dev/console
`;
// Runs in the initramfs after every other step but 95+: what the node will boot with.
const POST = `#!/bin/sh
r=$NEWROOT
echo "WWPOST ran"
echo "WWLAYOUT warewulf=$(cd $r/warewulf 2>/dev/null && find . | sort | tr '\\n' ' ')"
echo "WWLAYOUT kib=$(du -sk $r/warewulf | cut -f1)"
echo "WWLAYOUT links=$(for t in wwgetfiles wwgetscript wwgetvnfs wwgetnodeconfig; do printf '%s->%s ' $t "$(readlink $r/warewulf/bin/$t)"; done)"
echo "WWLAYOUT crond=$(ls $r/etc/cron.d 2>/dev/null | grep ww | tr '\\n' ' ')"
for f in $r/etc/cron.d/ww*; do [ -f "$f" ] && echo "WWCRON \${f##*/}: $(grep -v '^#' $f | grep -v '^[A-Z]*=' | head -n 1)"; done
echo "WWLAYOUT timers=$(ls $r/etc/systemd/system/timers.target.wants 2>/dev/null | grep ww | tr '\\n' ' ')"
echo "WWLAYOUT configlines=$(grep -c . $r/warewulf/config 2>/dev/null)"
echo "WWLAYOUT file=[$(cat $r/etc/wwboot-test.conf 2>/dev/null)] late=[$(cat $r/etc/wwboot-late.conf 2>/dev/null)]"
`;
const PRE = `#!/bin/sh
echo "WWPRE ran"
`;

function fixture(image: Image, config: Record<string, string>): Fixture {
  const f = (o: Omit<FileObject, 'uid' | 'gid'>): FileObject => ({ uid: 0, gid: 0, ...o });
  return {
    nodes: [
      {
        hwaddr: HW,
        name: 'n0001',
        vnfs: image.name,
        fileIds: [1, 2, 3, 4],
        scripts: { runtime: [20], pre: [21], post: [22] },
        config: { RUNTIME_SCHEDULE: '* * * * *', GETFILES_INTERVAL: '0', RUNTIME_ONCALENDAR: '*:0/1', ...config },
      },
    ],
    files: [
      f({
        id: 1,
        name: 'wwboottest',
        type: 'file',
        mode: 0o640,
        timestamp: 1700000100,
        path: '/etc/wwboot-test.conf',
        content: 'hello from the master',
      }),
      f({ id: 2, name: 'wwbootd', type: 'dir', mode: 0o750, timestamp: 1700000050, path: '/etc/wwboot.d' }),
      f({
        id: 3,
        name: 'wwbootlink',
        type: 'link',
        mode: 0o777,
        timestamp: 1700000150,
        path: '/etc/wwboot.d/current',
        content: '../wwboot-test.conf',
      }),
      // The master fails this one during the initramfs (see faults): one broken object at boot.
      f({
        id: 4,
        name: 'wwbootlate',
        type: 'file',
        mode: 0o644,
        timestamp: 1700000200,
        path: '/etc/wwboot-late.conf',
        content: 'arrived later',
      }),
      f({
        id: 20,
        name: 'runtime',
        type: 'file',
        mode: 0o644,
        timestamp: 1700000300,
        path: '/tmp/runtime',
        content: RUNTIME,
        format: 'shell',
      }),
      f({ id: 21, name: 'pre', type: 'file', mode: 0o644, timestamp: 1700000300, path: '/tmp/pre', content: PRE, format: 'shell' }),
      f({ id: 22, name: 'post', type: 'file', mode: 0o644, timestamp: 1700000300, path: '/tmp/post', content: POST, format: 'shell' }),
    ],
    vnfs: { [image.name]: { image: image.file } },
  };
}

// ---- one boot

interface Scenario {
  name: string;
  image: Image;
  transport: string;
  capability: boolean;
  config?: Record<string, string>;
  /** seconds to watch after switch_root for periodic requests */
  watch: number;
  /** the expected number of periodic runs of each job (0: none at all) */
  periodic: number;
  /** file object 4 fails while the node is in the initramfs */
  brokenAtBoot?: boolean;
  /** the tools were baked into the VNFS with wwruntime-install; upstream capabilities only */
  baked?: boolean;
  /** bad input that must end in a reboot, never in a booted root */
  bad?: 'checksum' | 'unknown-node';
  /** the opt-in lean capability (variant c): the node fetches the runtime blob from the master */
  lean?: boolean;
  /** lean: the blob is not installed on the master (404): the step fails (2), the node boots */
  noBlob?: boolean;
}

/** The lean capability's runtime blob as the build laid it out (dist/capability/bootstrap/wwruntime/x86_64/). */
const BLOB_DIR = join(ROOT, 'dist/capability/bootstrap/wwruntime/x86_64');
const blobFile = () => {
  const [name, ...more] = readdirSync(BLOB_DIR).filter((n) => /^wwruntime-.*\.tar\.xz$/.test(n));
  if (!name || more.length) throw new Error(`boot test: one runtime blob expected in ${BLOB_DIR}: rebuild (npm run build)`);
  return { name, file: join(BLOB_DIR, name), url: `/WW/bootstrap/wwruntime/x86_64/${name}` };
};
const load = () => loadavg()[0].toFixed(1);

const WRONG_SUM = '0123456789abcdef0123456789abcdef';

/** Boots a node that must reboot (QEMU exits: -no-reboot) and checks what it said on the way. */
async function bootBad(s: Scenario, k: Kernel, initramfs: Map<string, string>): Promise<Outcome> {
  const log: (RequestInfo & { at: number })[] = [];
  let startedAt = 0;
  const nodeconfig = [
    ['WWNAME', 'n0001'],
    ['WWHOSTNAME', 'n0001'],
    ['WWVNFS_NAME', s.image.name],
    ['WWVNFS_CHECKSUM', WRONG_SUM],
  ]
    .map(([k2, v]) => `${k2}="${v}"\nexport ${k2}\n`)
    .join('');
  const master = await startMaster(fixture(s.image, {}), {
    fault: (req) => {
      log.push(Object.assign(req, { at: Date.now() - startedAt }));
      if (s.bad === 'checksum' && req.path === '/WW/nodeconfig') return { kind: 'body', body: nodeconfig };
      return undefined;
    },
  });
  const append = `console=ttyS0 loglevel=4 panic=-1 wwmaster=10.0.2.2:${master.port} wwtransport=${s.transport} wwhostname=n0001`;
  mkdirSync(resolveWork('logs'), { recursive: true });
  const mac = s.bad === 'unknown-node' ? '52:54:00:77:00:99' : HW;
  const vm = bootVm({ kernel: k, initramfs: initramfs.get('ours')!, append, mac, log: join(resolveWork('logs'), `${s.name}.serial.log`) });
  startedAt = vm.startedAt;
  const o: Outcome = { s, vm, master, log, marks: new Map(), failures: [], figures: {} };
  const check = (ok: boolean, what: string) => {
    process.stdout.write(`  ${ok ? 'ok  ' : 'FAIL'} ${what}\n`);
    if (!ok) o.failures.push(`${s.name}: ${what}`);
  };
  const code = await Promise.race([vm.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), BOOT_TIMEOUT))]);
  await vm.kill();
  await master.stop();
  check(code !== 'timeout', `the node rebooted by itself (QEMU exited: ${code})`);
  const text = (re: RegExp) => vm.lines.filter((l) => re.test(l.text));
  check(text(/WWBOOT: switch_root/).length === 0, 'no switch_root: the root was never booted');
  if (s.bad === 'checksum') {
    check(text(/WWBOOT: step getvnfs rc=255/).length === 1, 'step getvnfs: status 255 (reboot)');
    check(
      text(new RegExp(`wwgetvnfs: ERROR: .*${WRONG_SUM}`)).length >= 1,
      `a clear line naming the expected sum (${text(/wwgetvnfs: ERROR/)[0]?.text.slice(0, 160) ?? 'none'})`,
    );
    check(text(/WWBOOT: step (config|runtimesupport|wwruntime|files) /).length === 0, 'no step after getvnfs ran');
  } else {
    check(text(/WWBOOT: nodeconfig failed/).length === 1, 'the node configuration failed, /init reboots');
    check(
      log.some((r) => r.path === '/WW/nodeconfig' && r.status === 404),
      `the master answered 404 (${log.map((r) => `${r.path} ${r.status}`).join(', ')})`,
    );
    check(text(/WWBOOT: step /).length === 0, 'no provision step ran');
    check(
      text(/wwgetnodeconfig: ERROR: .*404/).length >= 1,
      `a clear line (${text(/wwgetnodeconfig: ERROR/)[0]?.text.slice(0, 160) ?? 'none'})`,
    );
  }
  check(text(/WWBOOT: reboot/).length === 1, 'the reboot is announced on the console');
  return o;
}

interface Outcome {
  s: Scenario;
  vm: Vm;
  master: RunningMaster;
  log: (RequestInfo & { at: number })[];
  marks: Map<string, number>;
  failures: string[];
  figures: Record<string, number | string>;
}

async function boot(s: Scenario, k: ReturnType<typeof kernel>, busybox: string, initramfs: Map<string, string>): Promise<Outcome> {
  const log: (RequestInfo & { at: number })[] = [];
  let switchedAt = Infinity;
  let startedAt = 0;
  const blob = s.lean ? blobFile() : undefined;
  const master = await startMaster(fixture(s.image, s.config ?? {}), {
    // the master's /var/lib/warewulf/bootstrap/, served as /WW/bootstrap/ (the lean capability's blob)
    files: blob && !s.noBlob ? { [blob.url]: blob.file } : {},
    fault: (req) => {
      log.push(Object.assign(req, { at: Date.now() - startedAt }));
      if (s.brokenAtBoot && req.query.fileid === '4' && Date.now() - startedAt < switchedAt) return { kind: 'embedded', status: 404 };
      return undefined;
    },
  });
  const key = s.lean ? 'lean' : s.capability ? 'ours' : 'upstream';
  const append = `console=ttyS0 loglevel=4 panic=-1 wwmaster=10.0.2.2:${master.port} wwtransport=${s.transport} wwhostname=n0001`;
  const serialLog = join(resolveWork('logs'), `${s.name}.serial.log`);
  mkdirSync(resolveWork('logs'), { recursive: true });
  const vm = bootVm({ kernel: k, initramfs: initramfs.get(key)!, append, mac: HW, log: serialLog });
  startedAt = vm.startedAt;
  const failures: string[] = [];
  const figures: Record<string, number | string> = { 'host load': load() };
  const marks = new Map<string, number>();
  const check = (ok: boolean, what: string) => {
    process.stdout.write(`  ${ok ? 'ok  ' : 'FAIL'} ${what}\n`);
    if (!ok) failures.push(`${s.name}: ${what}`);
  };
  try {
    const sw = await vm.waitFor(/^WWBOOT: switch_root/, BOOT_TIMEOUT);
    switchedAt = sw.at;
    for (const l of vm.lines) {
      const m = /WWBOOT: (.*) t=([\d.]*)$/.exec(l.text);
      if (m) marks.set(m[1], l.at);
    }
    if (s.periodic > 0) {
      // each job at least `periodic` times after switch_root
      const deadline = Date.now() + s.watch * 1000;
      while (Date.now() < deadline) {
        const after = log.filter((r) => r.at > switchedAt);
        const lists = after.filter((r) => r.path === '/WW/file' && !r.query.fileid).length;
        const scripts = after.filter((r) => r.path === '/WW/script' && r.query.type === 'runtime').length;
        const ran = vm.lines.filter((l) => l.at > switchedAt && /^WWRUNTIME ran/.test(l.text)).length;
        if (lists >= s.periodic && scripts >= s.periodic && ran >= s.periodic) break;
        await new Promise((r) => setTimeout(r, 2000));
      }
    } else {
      // the image's init must show up; then watch for periodic requests that must not come
      await vm.waitFor(s.image.name.includes('systemd') ? /systemd\[1\]|Welcome to/ : /INIT: version/, 120_000);
      await new Promise((r) => setTimeout(r, s.watch * 1000));
    }
  } catch (err) {
    check(false, String((err as Error).message));
  } finally {
    await vm.kill();
    await master.stop();
  }
  return { s, vm, master, log, marks, failures, figures };
}

// ---- assertions on one boot (outside view only)

function verify(o: Outcome): void {
  const { s, vm, log, marks } = o;
  const check = (ok: boolean, what: string) => {
    process.stdout.write(`  ${ok ? 'ok  ' : 'FAIL'} ${what}\n`);
    if (!ok) o.failures.push(`${s.name}: ${what}`);
  };
  const text = (re: RegExp) => vm.lines.filter((l) => re.test(l.text));
  const step = (name: string) => {
    const m = [...marks.keys()].find((k) => k.startsWith(`step ${name} rc=`));
    return m ? Number(m.split('rc=')[1]) : undefined;
  };
  const expectSteps: [string, number][] = [
    ['adhoc-pre', 0],
    ['filesystems', 0],
    ['getvnfs', 0],
    ['config', 0],
    ['runtimesupport', 0],
    ['wwruntime', s.config?.NORUNTIMESERVICES ? 1 : s.noBlob ? 2 : 0],
    ['files', 0],
    ['adhoc-post', 0],
  ];
  const ours = s.capability;
  for (const [n, rc] of expectSteps) {
    if (n === 'wwruntime' && !ours) {
      check(step(n) === undefined, `step wwruntime absent (no capability)`);
      continue;
    }
    check(step(n) === rc, `step ${n}: status ${step(n)} (expected ${rc})`);
  }
  const sw = vm.lines.find((l) => /^WWBOOT: switch_root/.test(l.text));
  check(!!sw, 'switch_root reached');
  const initSeen = s.image.name.includes('systemd')
    ? text(/systemd\[1\]|Welcome to|Reached target|systemd \d+ running/).some((l) => l.at > (sw?.at ?? Infinity))
    : text(/INIT: version|Starting periodic command scheduler|cron/).some((l) => l.at > (sw?.at ?? Infinity));
  check(initSeen, `the image's init ran after switch_root (${s.image.name.includes('systemd') ? 'systemd' : 'sysvinit'})`);
  const vnfsReq = log.filter((r) => r.path === '/WW/vnfs' || r.path.startsWith('/WW/vnfs_cache'));
  check(
    vnfsReq.length >= 2,
    `the VNFS was fetched (${vnfsReq.map((r) => `${r.path.replace(/image\..*/, 'image.MD5')} ${r.status}`).join(', ')})`,
  );
  const ua = vnfsReq.map((r) => String(r.headers['user-agent'] ?? '')).join(' ');
  if (s.transport === 'wwruntime') check(!/Wget/i.test(ua), `VNFS fetched by our wwgetvnfs (user agent '${ua.slice(0, 60)}')`);
  else check(/Wget/i.test(ua), `VNFS fetched by the stand-in http transport (busybox wget: '${ua.slice(0, 40)}')`);
  check(text(/^WWPRE ran/).length === 1 && text(/^WWPOST ran/).length === 1, 'the pre and post scripts ran once each');

  if (s.lean) {
    const b = blobFile();
    const got = log.filter((r) => r.path === b.url);
    if (s.config?.NORUNTIMESERVICES && s.transport !== 'wwruntime') {
      check(got.length === 0, `lean, NORUNTIMESERVICES, http transport: the blob was not fetched (${got.length} requests)`);
    } else if (s.noBlob) {
      check(
        got.length >= 1 && got.every((r) => r.status === 404),
        `lean, no blob on the master: asked, 404 (${got.map((r) => r.status).join(', ')})`,
      );
      const line = text(/wwruntime: ERROR: could not fetch the runtime: /);
      check(
        line.length === 1 && line[0].text.includes(`http://10.0.2.2:${o.master.port}${b.url}`) && /404/.test(line[0].text),
        `one clear console line naming the URL and the 404 (${line.map((l) => l.text.slice(0, 200)).join(' | ') || 'none'})`,
      );
    } else {
      check(
        got.length === 1 && got[0].status === 200,
        `lean: the blob fetched once, 200 (${got.map((r) => `${r.status} ${String(r.headers['user-agent'] ?? '').slice(0, 20)}`).join(', ')})`,
      );
      o.figures['blob bytes'] = statSync(b.file).size;
    }
  }
  const layout = (k: string) => text(new RegExp(`^WWLAYOUT ${k}=`))[0]?.text.replace(/^WWLAYOUT [a-z]+=/, '') ?? '';
  if (!s.config?.NORUNTIMESERVICES && !s.baked && !s.noBlob) {
    const kib = Number(layout('kib'));
    o.figures['NEWROOT/warewulf KiB'] = kib;
    if (ours) {
      check(kib > 90 * 1024 && kib < 130 * 1024, `NEWROOT/warewulf holds one runtime: ${(kib / 1024).toFixed(0)} MiB`);
      check(!/transports/.test(layout('warewulf')), `no transport copy left in NEWROOT/warewulf (${layout('warewulf').trim()})`);
      const systemd = s.image.name.includes('systemd');
      if (systemd) {
        check(layout('crond').trim() === '', `systemd image: no wwupdatefiles/wwrunscript in /etc/cron.d ('${layout('crond').trim()}')`);
        check(
          /wwrunscript\.timer/.test(layout('timers')) && /wwupdatefiles\.timer/.test(layout('timers')),
          `systemd image: both timers enabled (${layout('timers').trim()})`,
        );
      } else {
        const cron = text(/^WWCRON /).map((l) => l.text);
        check(
          cron.length === 2 && cron.every((c) => /^WWCRON ww\w+: \* \* \* \* \* root /.test(c)),
          `cron image: both cron files are ours, every minute (${cron.join(' | ')})`,
        );
      }
    }
  }
  if (s.baked) {
    // What such a node ends with (README, "Tools baked into the VNFS"): our executable and links
    // (upstream's ln -s fails on them), upstream's cron lines calling them every 5 minutes,
    // upstream's config lines appended after ours, and an unused copy of its transport.
    const links = layout('links');
    check(/wwgetfiles->wwruntime wwgetscript->wwruntime/.test(links), `baked: our links survive 60-runtimesupport (${links.trim()})`);
    const kib = Number(layout('kib'));
    o.figures['NEWROOT/warewulf KiB'] = kib;
    check(kib > 90 * 1024 && kib < 130 * 1024, `baked: one runtime in NEWROOT/warewulf (${(kib / 1024).toFixed(0)} MiB)`);
    check(
      /\.\/transports\/http\/wwgetfiles/.test(layout('warewulf')),
      'baked: the documented limit: an unused copy of the http transport in /warewulf/transports',
    );
    const cron = text(/^WWCRON /).map((l) => l.text);
    check(
      cron.length === 2 && cron.every((c) => /: 0,5,10,15,20,25,30,35,40,45,50,55 \* \* \* \* root .*\/warewulf\/bin\/wwget/.test(c)),
      `baked: the documented limit: upstream's cron lines (every 5 min) calling our tools (${cron.join(' | ')})`,
    );
    o.figures['config lines'] = Number(layout('configlines'));
  }
  if (s.brokenAtBoot) {
    check(
      text(/wwgetfiles: WARNING: 1 file object\(s\) failed/).length >= 1,
      'the broken file object at boot: WARNING line on the console, step files status 0',
    );
    check(/late=\[\]/.test(text(/^WWLAYOUT file=/)[0]?.text ?? ''), 'the broken object is absent at boot, the others in place');
  }

  const swAt = sw?.at ?? Infinity;
  const after = log.filter((r) => r.at > swAt);
  const lists = after.filter((r) => r.path === '/WW/file' && !r.query.fileid);
  const scripts = after.filter((r) => r.path === '/WW/script' && r.query.type === 'runtime');
  const ran = text(/^WWRUNTIME ran/).filter((l) => l.at > swAt);
  if (s.periodic < 0) {
    // not watched
  } else if (s.periodic > 0) {
    check(lists.length >= s.periodic, `periodic wwgetfiles ran ${lists.length} times after switch_root (>= ${s.periodic})`);
    check(scripts.length >= s.periodic, `periodic runtime script fetched ${scripts.length} times (>= ${s.periodic})`);
    check(
      ran.length >= s.periodic && ran.every((l) => /content=\[hello from the master\] mode=640 link=\.\.\/wwboot-test\.conf/.test(l.text)),
      `the runtime script ran ${ran.length} times with the node's files in place`,
    );
    if (s.brokenAtBoot)
      check(
        ran.some((l) => /late=\[arrived later\]/.test(l.text)),
        'the object broken at boot arrived with a periodic run',
      );
    o.figures['first periodic request s'] = after.length ? +(Math.min(...after.map((r) => r.at)) / 1000).toFixed(1) : 'none';
  } else {
    check(after.length === 0, `no requests at all after switch_root (${after.length}: ${after.map((r) => r.path).join(' ')})`);
  }
  const done = marks.get('provision done');
  o.figures['provision done s'] = done !== undefined ? +(done / 1000).toFixed(1) : 'none';
  o.figures['switch_root s'] = Number.isFinite(swAt) ? +(swAt / 1000).toFixed(1) : 'none';
  // The parts the capability's size and packing act on, less noisy than the totals: power-on to
  // /init (loading and unpacking initfs.gz), /init to the node configuration (the transport's first
  // tool: with wwtransport=wwruntime it unpacks the executable), and the step itself.
  const initAt = marks.get('init start');
  if (initAt !== undefined) o.figures['init start s'] = +(initAt / 1000).toFixed(1);
  const nc = marks.get('nodeconfig ok');
  if (initAt !== undefined && nc !== undefined) o.figures['nodeconfig s'] = +((nc - initAt) / 1000).toFixed(1);
  const ws = marks.get('step wwruntime start');
  const we = [...marks.entries()].find(([k]) => k.startsWith('step wwruntime rc='))?.[1];
  if (ws !== undefined && we !== undefined) o.figures['step wwruntime s'] = +((we - ws) / 1000).toFixed(1);
  const vs = marks.get('step getvnfs start');
  const ve = [...marks.entries()].find(([k]) => k.startsWith('step getvnfs rc='))?.[1];
  if (vs !== undefined && ve !== undefined) o.figures['VNFS download+unpack s'] = +((ve - vs) / 1000).toFixed(1);
}

// ---- the route without our capability: tools baked into the VNFS at image-build time

function bakedImage(from: Image): Image {
  const dir = resolveWork('image-baked');
  const root = join(dir, 'root');
  execFileSync('/bin/sh', ['-c', `rm -rf '${dir}' && mkdir -p '${dir}' && cp -a '${from.root}' '${root}'`]);
  execFileSync(
    join(ROOT, 'bootstrap/wwruntime-install'),
    ['--into', root, '--from', join(ROOT, 'dist'), '--schedule', '* * * * *', '--splay', '0'],
    { stdio: 'inherit' },
  );
  const file = join(dir, 'image.cpio.gz');
  packImage(root, file);
  execFileSync('rm', ['-rf', root]);
  return { name: 'debian-cron-baked', file, root, seconds: 0, cached: false };
}

// ---- main

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) throw new Error('boot test: run as root (debootstrap, cpio owners)');
  const t0 = Date.now();
  const k = kernel();
  const busybox = busyboxStatic();
  const cron = debianImage('debian-cron', ['cron', 'sysvinit-core']);
  // --only: the images no selected boot uses are not made (debootstrap takes minutes without the cache)
  const wanted = (re: RegExp) => !only || only.some((n) => re.test(n));
  const systemd = wanted(/systemd/) ? debianImage('debian-systemd', ['systemd-sysv']) : cron;
  process.stdout.write(
    `# kernel ${k.version}; images ${cron.name} (${cron.cached ? 'cached' : `${cron.seconds.toFixed(0)} s`}), ${systemd.name} (${systemd.cached ? 'cached' : `${systemd.seconds.toFixed(0)} s`})\n`,
  );
  const capability = join(ROOT, 'dist/capability/provision-wwruntime.linux-x64.cpio');
  const initramfs = new Map<string, string>();
  initramfs.set('ours', assembleInitramfs({ work: resolveWork('initramfs-ours'), kernel: k, busybox, capability }));
  initramfs.set('upstream', assembleInitramfs({ work: resolveWork('initramfs-upstream'), kernel: k, busybox }));
  const leanCapability = join(ROOT, 'dist/capability/provision-wwruntime-lean.linux-x64.cpio');
  initramfs.set('lean', assembleInitramfs({ work: resolveWork('initramfs-lean'), kernel: k, busybox, capability: leanCapability }));
  // What each node fetches at boot (iPXE `initrd .../initfs.gz`), with and without our capability.
  const size = (k2: string) => statSync(initramfs.get(k2)!).size;
  const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
  process.stdout.write(
    `# initfs.gz fetched at boot: ${size('ours')} bytes (${mb(size('ours'))}) with our capability, ${size('upstream')} (${mb(size('upstream'))}) without: the capability adds ${mb(size('ours') - size('upstream'))} (its cpio: ${mb(statSync(capability).size)})\n`,
  );
  process.stdout.write(
    `# initfs.gz with the lean capability (opt-in, variant c): ${size('lean')} bytes (${mb(size('lean'))}): it adds ${mb(size('lean') - size('upstream'))} (its cpio: ${statSync(leanCapability).size} bytes); plus the blob over HTTP for each node that uses the runtime: ${statSync(blobFile().file).size} bytes\n`,
  );
  process.stdout.write(`# host load (1 min) at the start: ${load()}\n`);
  const baked = wanted(/baked/) ? bakedImage(cron) : cron;
  process.stdout.write(`# initramfs assembled (${((Date.now() - t0) / 1000).toFixed(0)} s so far)\n`);

  const scenarios: Scenario[] = [
    { name: 'cron-wwruntime', image: cron, transport: 'wwruntime', capability: true, watch: 200, periodic: 2, brokenAtBoot: true },
    // the lean capability (variant c) right after its (b) twin: a paired comparison
    {
      name: 'cron-wwruntime-lean',
      image: cron,
      transport: 'wwruntime',
      capability: true,
      lean: true,
      watch: 200,
      periodic: 2,
      brokenAtBoot: true,
    },
    { name: 'cron-http', image: cron, transport: 'http', capability: true, watch: 200, periodic: 2 },
    { name: 'cron-http-lean', image: cron, transport: 'http', capability: true, lean: true, watch: 200, periodic: 2 },
    { name: 'cron-http-lean-noblob', image: cron, transport: 'http', capability: true, lean: true, noBlob: true, watch: 0, periodic: -1 },
    {
      name: 'cron-http-lean-noruntimeservices',
      image: cron,
      transport: 'http',
      capability: true,
      lean: true,
      watch: 0,
      periodic: -1,
      config: { NORUNTIMESERVICES: '1' },
    },
    { name: 'systemd-wwruntime', image: systemd, transport: 'wwruntime', capability: true, watch: 200, periodic: 2 },
    { name: 'baked-upstream-http', image: baked, transport: 'http', capability: false, watch: 0, periodic: -1, baked: true },
    { name: 'bad-checksum', image: cron, transport: 'wwruntime', capability: true, watch: 0, periodic: -1, bad: 'checksum' },
    { name: 'bad-unknown-node', image: cron, transport: 'wwruntime', capability: true, watch: 0, periodic: -1, bad: 'unknown-node' },
    {
      name: 'cron-noruntimeservices',
      image: cron,
      transport: 'wwruntime',
      capability: true,
      watch: 150,
      periodic: 0,
      config: { NORUNTIMESERVICES: '1' },
    },
  ];
  const outcomes: Outcome[] = [];
  for (const s of scenarios) {
    if (only && !only.includes(s.name)) continue;
    process.stdout.write(
      `\n# boot ${s.name}: image ${s.image.name}, wwtransport=${s.transport}, ${s.capability ? 'with' : 'without'} our capability\n`,
    );
    let o: Outcome;
    if (s.bad) o = await bootBad(s, k, initramfs);
    else {
      o = await boot(s, k, busybox, initramfs);
      verify(o);
    }
    outcomes.push(o);
    process.stdout.write(`  figures: ${JSON.stringify(o.figures)}\n`);
  }
  // Figures: transport wwruntime against the stand-in http transport, same image, same run.
  const a = outcomes.find((o) => o.s.name === 'cron-wwruntime');
  const b = outcomes.find((o) => o.s.name === 'cron-http');
  if (a && b) {
    process.stdout.write('\n# figures (seconds from power-on; image debian-cron; wwruntime vs stand-in http, ratio wwruntime/http)\n');
    for (const f of ['VNFS download+unpack s', 'provision done s', 'switch_root s', 'first periodic request s']) {
      const x = a.figures[f];
      const y = b.figures[f];
      const ratio = typeof x === 'number' && typeof y === 'number' && y > 0 ? ` (${(x / y).toFixed(2)}x)` : '';
      process.stdout.write(`  ${f.padEnd(26)} wwruntime ${String(x).padStart(6)}   http ${String(y).padStart(6)}${ratio}\n`);
    }
  }
  // Paired: the default capability (b) against the lean one (c), same run, one boot after the other.
  const pairs = [
    ['cron-wwruntime', 'cron-wwruntime-lean'],
    ['cron-http', 'cron-http-lean'],
  ]
    .map(([x, y]) => [outcomes.find((o) => o.s.name === x), outcomes.find((o) => o.s.name === y)] as const)
    .filter(([x, y]) => x && y);
  if (pairs.length) {
    process.stdout.write('\n# paired: (b) default capability vs (c) lean, seconds from power-on (host load at each boot)\n');
    for (const [x, y] of pairs) {
      for (const f of ['init start s', 'nodeconfig s', 'step wwruntime s', 'provision done s', 'switch_root s']) {
        process.stdout.write(
          `  ${x!.s.name.padEnd(16)} ${f.padEnd(18)} (b) ${String(x!.figures[f] ?? '-').padStart(6)}   (c) ${String(y!.figures[f] ?? '-').padStart(6)}\n`,
        );
      }
      process.stdout.write(
        `  ${x!.s.name.padEnd(16)} host load          (b) ${x!.figures['host load']}   (c) ${y!.figures['host load']}\n`,
      );
    }
  }
  for (const o of outcomes) process.stdout.write(`  ${o.s.name}: ${JSON.stringify(o.figures)}\n`);
  // One line for CI: the bytes each node fetches and the seconds to "provision done" per boot.
  const done = outcomes
    .filter((o) => o.figures['provision done s'] !== undefined)
    .map((o) => `${o.s.name} ${o.figures['provision done s']} s`)
    .join(', ');
  process.stdout.write(
    `# footprint: initfs.gz ${size('ours')} bytes with the capability, ${size('lean')} with the lean one, ${size('upstream')} without; provision done: ${done}; host load at the end ${load()}\n`,
  );
  const failures = outcomes.flatMap((o) => o.failures);
  process.stdout.write(
    `\n# boot test: ${outcomes.length} boots, ${failures.length} failed checks, ${((Date.now() - t0) / 1000).toFixed(0)} s\n`,
  );
  for (const f of failures) process.stdout.write(`FAIL ${f}\n`);
  // One count per boot, in the form .ci/run adds to the test suite's closing line.
  const bad = outcomes.filter((o) => o.failures.length > 0).length;
  process.stdout.write(`boot-test: ${outcomes.length - bad} passed, ${bad} failed\n`);
  return failures.length || outcomes.length === 0 ? 1 : 0;
}

main().then(
  (c) => process.exit(c),
  (err) => {
    process.stderr.write(`boot test: ERROR: ${err?.stack ?? err}\n`);
    process.stdout.write('boot-test: 0 passed, 1 failed\n');
    process.exit(2);
  },
);
