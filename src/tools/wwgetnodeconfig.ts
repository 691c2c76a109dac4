// wwgetnodeconfig: print this node's configuration as the master sent it, so
// `wwgetnodeconfig > /tmp/nodeconfig; . /tmp/nodeconfig` keeps working.
import { EXIT, WwError } from '../core/errors.ts';
import { fetchNodeConfig } from '../core/protocol/nodeconfig.ts';
import { withMaster } from './client.ts';
import { COMMON_HELP, COMMON_OPTIONS, EXIT_HELP, SETTINGS_HELP, parse } from './options.ts';
import { writeAll } from './output.ts';
import { handleInfo, type Tool, type ToolIO } from './tool.ts';

const NAME = 'wwgetnodeconfig';
const HELP = `Usage: ${NAME} [--json] [options]
Prints this node's configuration from the master (/WW/nodeconfig) on stdout,
exactly as sent, byte for byte (KEY="value" / export KEY lines), once it has
arrived complete.
  --json                 print it as one JSON object instead (values read as UTF-8)
${COMMON_HELP}
${SETTINGS_HELP}
${EXIT_HELP}`;

export const wwgetnodeconfig: Tool = {
  name: NAME,
  summary: "print this node's configuration",
  async main(io: ToolIO) {
    const { values, positionals } = parse(io.argv, { ...COMMON_OPTIONS, json: { type: 'boolean' } });
    if (handleInfo(io, values, NAME, HELP)) return EXIT.OK;
    if (positionals.length > 0) throw new WwError('WW_USAGE', `unexpected argument '${positionals[0]}'`);
    return withMaster(io, values, NAME, async ({ client, hwaddr, log }) => {
      const cfg = await fetchNodeConfig(client, hwaddr);
      for (const n of cfg.rejected) log.warn(`line ${n} of the node configuration is not a shell assignment`);
      const out = values.json ? `${JSON.stringify(Object.fromEntries(cfg.vars), null, 2)}\n` : cfg.bytes;
      await writeAll(io.stdout, out);
      return EXIT.OK;
    });
  },
};
