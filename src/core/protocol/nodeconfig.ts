// /WW/nodeconfig (PROTOCOL 2.1): `KEY="value"` + `export KEY` pairs that the
// initramfs sources. We pass the bytes through untouched, after checking it is
// node configuration and not an error page a shell would choke on.
import { WwError } from '../errors.ts';
import type { MasterClient } from '../net/client.ts';
import { parseShellVars } from '../settings/shellvars.ts';
import { ANSWER_CAPS, getWhole } from './whole.ts';

export interface NodeConfig {
  /** The answer as sent, byte for byte: what wwgetnodeconfig prints. */
  bytes: Buffer;
  /** The answer decoded as UTF-8 (invalid bytes become U+FFFD): what is parsed. */
  text: string;
  vars: Map<string, string>;
  /** 1-based line numbers a shell would not read as an assignment or export. */
  rejected: number[];
}

export function parseNodeConfig(text: string, bytes: Buffer = Buffer.from(text)): NodeConfig {
  const { vars, rejected } = parseShellVars(text);
  return { bytes, text, vars, rejected };
}

export async function fetchNodeConfig(client: MasterClient, hwaddr: string): Promise<NodeConfig> {
  return getWhole(
    client,
    '/WW/nodeconfig',
    { hwaddr },
    {
      cap: ANSWER_CAPS.nodeconfig,
      parse: ({ body, url }) => {
        const text = body.toString('utf8');
        const cfg = parseNodeConfig(text, body);
        // The master branch answers 200 with an empty body for a node it does not know.
        if (cfg.vars.size === 0) {
          if (text.trim() === '')
            throw new WwError('WW_NODECONFIG_MALFORMED', `${url}: empty node configuration (unknown node ${hwaddr}?)`);
          throw new WwError('WW_NODECONFIG_MALFORMED', `${url}: answer is not node configuration (starts '${text.trim().slice(0, 40)}')`);
        }
        return cfg;
      },
    },
  );
}
