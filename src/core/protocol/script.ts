// /WW/script (PROTOCOL 2.4). The whole script is downloaded and checked
// complete before anyone sees a byte of it: `wwgetscript runtime | /bin/sh`
// must never run half a script (upstream defect 6.4).
import { WwError } from '../errors.ts';
import { embeddedStatus, embeddedStatusError, readBody, type MasterClient } from '../net/client.ts';

export const SCRIPT_TYPE = /^[A-Za-z0-9._-]+$/;

export function checkScriptType(type: string): void {
  if (!SCRIPT_TYPE.test(type)) {
    throw new WwError('WW_USAGE', `invalid script type '${type}' (letters, digits, '.', '_' and '-' only; e.g. pre, post, runtime)`);
  }
}

export async function fetchScript(client: MasterClient, hwaddr: string, type: string): Promise<Buffer> {
  checkScriptType(type);
  return client.get('/WW/script', { hwaddr, type }, async (res) => {
    const body = await readBody(res, 64 * 1024 * 1024);
    const status = embeddedStatus(body);
    if (status !== null) throw embeddedStatusError(res.url, status);
    return body;
  });
}
