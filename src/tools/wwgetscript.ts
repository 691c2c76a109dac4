// wwgetscript TYPE: print the node's pre, post or runtime script, only once it
// has arrived whole, so `wwgetscript runtime | /bin/sh` never runs half a script.
import { EXIT, WwError } from '../core/errors.ts';
import { fetchScript, checkScriptType } from '../core/protocol/script.ts';
import {
  COMMON_HELP, COMMON_OPTIONS, EXIT_HELP, SETTINGS_HELP, connectContext, handleInfo, makeLogger, parse,
  settingsFor, writeAll, type Tool, type ToolIO,
} from './common.ts';

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
    checkScriptType(positionals[0]);
    const log = makeLogger(io, values, NAME);
    const ctx = connectContext(io, values, log, settingsFor(io, values));
    try {
      const script = await fetchScript(ctx.client, ctx.hwaddr, positionals[0]);
      if (script.length === 0) log.debug(`no ${positionals[0]} script for this node`);
      else await writeAll(io.stdout, script);
      return EXIT.OK;
    } finally {
      ctx.client.close();
    }
  },
};
