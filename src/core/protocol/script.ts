// /WW/script (PROTOCOL 2.4). The whole script is downloaded and checked
// complete before anyone sees a byte of it: `wwgetscript runtime | /bin/sh`
// must never run half a script (upstream defect 6.4).
import { WwError } from '../errors.ts';
import type { MasterClient } from '../net/client.ts';
import { ANSWER_CAPS, getWhole } from './whole.ts';

export const SCRIPT_TYPE = /^[A-Za-z0-9._-]+$/;

export function checkScriptType(type: string): void {
  if (!SCRIPT_TYPE.test(type)) {
    throw new WwError('WW_USAGE', `invalid script type '${type}' (letters, digits, '.', '_' and '-' only; e.g. pre, post, runtime)`);
  }
}

export async function fetchScript(client: MasterClient, hwaddr: string, type: string): Promise<Buffer> {
  checkScriptType(type);
  return getWhole(client, '/WW/script', { hwaddr, type }, { cap: ANSWER_CAPS.script, parse: (a) => a.body });
}
