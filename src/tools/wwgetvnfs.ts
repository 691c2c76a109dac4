// wwgetvnfs: fetch this node's VNFS image from the master and unpack it into
// NEWROOT (initramfs), --target DIR, or (only with --force) the running system's /.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT, WwError } from '../core/errors.ts';
import { fetchNodeConfig } from '../core/protocol/nodeconfig.ts';
import { flagSetting } from '../core/settings/node.ts';
import { getVnfs, isHexMd5, type Progress } from '../core/vnfs/job.ts';
import { chooseTarget, prepareTarget } from '../core/vnfs/target.ts';
import { masterContext } from './client.ts';
import { COMMON_HELP, COMMON_OPTIONS, EXIT_HELP, SETTINGS_HELP, parse } from './options.ts';
import { handleInfo, makeLogger, settingsFor, type Tool, type ToolIO } from './tool.ts';

const NAME = 'wwgetvnfs';
const HELP = `Usage: ${NAME} [--target DIR] [--verify] [--force] [options]
Streams this node's VNFS image from the master (/WW/vnfs, following the cache
redirect, retrying while the master answers 503 or the connection drops),
gunzips it and unpacks it in one pass, preserving types, owners, modes
(setuid/setgid too), times, hard links, devices and FIFOs. The image may be a
cpio newc/crc archive (the master's default) or a ustar/pax/GNU tar archive;
the format is detected from its first bytes. Nothing is written outside the
target: absolute paths, '..' and writing through a symbolic link that leads
outside are refused. Succeeds only when TARGET/sbin/init exists afterwards.
Each file is written to a temporary beside it and renamed into place whole.

While it unpacks, TARGET/.wwgetvnfs-incomplete exists: made (and synced) before the
first entry, removed only as the last step of a complete unpack (after the --verify
checksum and the sbin/init check). A target that still has it was not unpacked
completely (a full disk, a signal, a cut connection, a crash) and must not be booted:
run wwgetvnfs again, which unpacks over it. An image's own entry of that name is skipped.

Where it unpacks:
  inside the initramfs (NEWROOT set, /init exists): into NEWROOT, without asking;
  --target DIR: into DIR (created if missing, once the master sends the image): the safe way to inspect or stage an image;
  otherwise into /, which on a running system overwrites the live node: refused unless --force.

Options:
  -t, --target DIR       unpack into DIR instead of NEWROOT or /
  --force                allow unpacking over / of a running system (dangerous)
  --verify               check the image's MD5 against WWVNFS_CHECKSUM (as WWVALIDATE_VNFS=1);
                         the checksum comes from the settings or else from the node configuration
  --no-init-check        do not require TARGET/sbin/init afterwards
  --no-owners            do not restore owners (default: restored when running as root)
${COMMON_HELP}
${SETTINGS_HELP}
  NEWROOT                where the initramfs mounts the new root (empty or unset on a running node)
  WWVALIDATE_VNFS        1: verify the image (as --verify)
  WWVNFS_CHECKSUM        expected MD5 of the compressed image (fetched from /WW/nodeconfig when not set)
${EXIT_HELP}
  (wwgetvnfs: 2 also for a hostile archive entry, a checksum mismatch, a missing sbin/init,
   a full disk ("no space left on device writing PATH"), and for refusing to overwrite /
   without --force; on every exit but 0 TARGET/.wwgetvnfs-incomplete stays, once made)`;

function human(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export const wwgetvnfs: Tool = {
  name: NAME,
  summary: "fetch and unpack this node's VNFS image",
  async main(io: ToolIO) {
    const { values, positionals } = parse(io.argv, {
      ...COMMON_OPTIONS,
      target: { type: 'string', short: 't' },
      force: { type: 'boolean' },
      verify: { type: 'boolean' },
      'no-init-check': { type: 'boolean' },
      'no-owners': { type: 'boolean' },
    });
    if (handleInfo(io, values, NAME, HELP)) return EXIT.OK;
    if (positionals.length > 0) throw new WwError('WW_USAGE', `unexpected argument '${positionals[0]}'`);
    if (values.target === '') throw new WwError('WW_USAGE', '--target needs a directory');
    const log = makeLogger(io, values, NAME);
    const settings = settingsFor(io, values);

    // Decide where to unpack (and refuse a live /) before talking to anyone.
    const newroot = settings.get('NEWROOT') ?? '';
    const initramfs = newroot !== '' && existsSync(join(values.sysroot ?? '/', 'init'));
    const choice = chooseTarget({ target: values.target, newroot, initramfs });
    const { root, create } = await prepareTarget(choice, { initramfs, force: !!values.force, create: values.target !== undefined });
    log.debug(`target ${root} (${choice.reason}${create ? '; made when the master answers' : ''})`);

    // Recorded in the node's root (NEWROOT, or / with --force), not in a --target folder: a staged image must not carry a run record.
    if (values.target === undefined && !create) await io.record?.begin({ tool: NAME, rootReal: root, settings, log });
    const ctx = masterContext(io, values, { log, settings });
    try {
      const verify = !!values.verify || flagSetting(settings, 'WWVALIDATE_VNFS', (l) => log.warn(l), 'no verification');
      let expected: string | undefined;
      let md5Source: string | undefined;
      if (verify) {
        expected = settings.get('WWVNFS_CHECKSUM');
        md5Source = expected ? `WWVNFS_CHECKSUM from ${settings.sourceOf('WWVNFS_CHECKSUM')}` : undefined;
        if (!expected) {
          const cfg = await fetchNodeConfig(ctx.client, ctx.hwaddr);
          expected = cfg.vars.get('WWVNFS_CHECKSUM');
          md5Source = 'WWVNFS_CHECKSUM from the node configuration';
        }
        if (!expected)
          throw new WwError('WW_CONFIG', 'verification asked for, but WWVNFS_CHECKSUM is set nowhere (settings or node configuration)');
        if (!isHexMd5(expected)) throw new WwError('WW_CONFIG', `WWVNFS_CHECKSUM '${expected}' is not an MD5 checksum`);
        expected = expected.toLowerCase();
      }

      const tty = !values.quiet && (io.stderr as { isTTY?: boolean }).isTTY === true;
      const t0 = Date.now();
      const onProgress = tty
        ? (p: Progress) => {
            const s = (Date.now() - t0) / 1000 || 0.001;
            const of = p.total ? ` of ${human(p.total)} (${Math.floor((100 * p.received) / p.total)}%)` : '';
            io.stderr.write(
              `\r\x1b[K${NAME}: ${human(p.received)}${of} received, ${human(p.stats.bytes)} unpacked, ` +
                `${human(p.received / s)}/s, ${p.stats.entries} entries`,
            );
          }
        : undefined;
      let r;
      try {
        r = await getVnfs({
          client: ctx.client,
          hwaddr: ctx.hwaddr,
          root,
          createRoot: create,
          expectedMd5: expected,
          md5Source,
          requireInit: !values['no-init-check'],
          identity: io.identity,
          owners: values['no-owners'] ? false : undefined,
          log,
          onProgress,
        });
      } finally {
        if (tty) io.stderr.write('\n');
      }
      const st = r.stats;
      io.record?.note({ counts: { listed: st.entries, installed: st.entries - st.skipped, unchanged: 0, failed: 0 } });
      log.info(
        `unpacked ${st.entries} entries (${st.files} files, ${st.directories} directories, ${st.symlinks} symbolic links, ` +
          `${st.hardlinks} hard links, ${st.devices} devices/FIFOs${st.skipped ? `, ${st.skipped} sockets skipped` : ''}; ` +
          `${human(st.bytes)}) from ${human(r.compressed)} ${r.format} image in ${r.seconds.toFixed(1)} s ` +
          `(${human(r.compressed / Math.max(r.seconds, 0.001))}/s) into ${r.root}` +
          (r.verified ? `; MD5 ${r.md5} verified` : ''),
      );
      return EXIT.OK;
    } finally {
      io.record?.note({ master: ctx.client.answered });
      ctx.client.close();
    }
  },
};
