// wwgetscript TYPE: print the node's pre, post or runtime script, only once it
// has arrived whole, so `wwgetscript runtime | /bin/sh` never runs half a script.
import { EXIT, WwError } from '../core/errors.ts';
import { realRoot } from '../core/fs/confine.ts';
import { fetchScript, checkScriptType } from '../core/protocol/script.ts';
import { withMaster } from './client.ts';
import { COMMON_HELP, COMMON_OPTIONS, EXIT_HELP, SETTINGS_HELP, parse } from './options.ts';
import { writeAll } from './output.ts';
import { handleInfo, type Tool, type ToolIO } from './tool.ts';

const NAME = 'wwgetscript';
const HELP = `Usage: ${NAME} [options] TYPE
Downloads the node's TYPE script (pre, post, runtime, or any name matching
[A-Za-z0-9._-]+) from the master (/WW/script), checks it arrived complete, and
only then writes it to stdout. An empty script prints nothing and exits 0.
  e.g.  ${NAME} runtime | /bin/sh
${COMMON_HELP}
${SETTINGS_HELP}
${EXIT_HELP}`;

export const wwgetscript: Tool = {
  name: NAME,
  summary: "print the node's pre/post/runtime script",
  async main(io: ToolIO) {
    const { values, positionals } = parse(io.argv, COMMON_OPTIONS);
    if (handleInfo(io, values, NAME, HELP)) return EXIT.OK;
    if (positionals.length !== 1) throw new WwError('WW_USAGE', `expected one script type (pre, post or runtime)`);
    const [type] = positionals;
    checkScriptType(type);
    return withMaster(io, values, NAME, async ({ client, hwaddr, log, settings }) => {
      // The runtime script is the scheduled job's: recorded under --sysroot (default /; pre and post run in the initramfs, not recorded).
      // (A --sysroot that is not there only means no settings files: then no record either.)
      const rootReal = type === 'runtime' ? await realRoot(values.sysroot ?? '/').catch(() => null) : null;
      if (rootReal) await io.record?.begin({ tool: NAME, rootReal, settings, log });
      let script: Buffer;
      try {
        script = await fetchScript(client, hwaddr, type);
      } finally {
        io.record?.note({ master: client.answered });
      }
      if (script.length === 0) log.debug(`no ${type} script for this node`);
      else await writeAll(io.stdout, script);
      return EXIT.OK;
    });
  },
};
