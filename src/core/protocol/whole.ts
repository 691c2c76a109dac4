// Answers that are used only whole (the file list, scripts, node configuration, link targets and
// device numbers): read completely, up to a cap, and checked for the real master's error page
// inside a 200 body (PROTOCOL 2.7) before anyone sees a byte.
import { readBody } from '../net/body.ts';
import type { MasterClient, RequestLimits } from '../net/client.ts';
import { embeddedStatus, embeddedStatusError } from './embedded-status.ts';

/** The most bytes each kind of whole answer may have (a larger one is refused: WW_TOO_LARGE). */
export const ANSWER_CAPS = {
  list: 256 * 1024 * 1024,
  script: 64 * 1024 * 1024,
  nodeconfig: 16 * 1024 * 1024,
  /** A link target or a device number. */
  small: 64 * 1024,
} as const;

export interface WholeAnswer {
  body: Buffer;
  /** The URL that answered, for messages. */
  url: string;
}

/**
 * GETs `path` and returns what `parse` makes of the whole body. `parse` runs inside the exchange,
 * so a body it refuses (throws) counts as that master's failure (the next master is still asked).
 */
export function getWhole<T>(
  client: MasterClient,
  path: string,
  query: Record<string, string>,
  o: { cap: number; limits?: RequestLimits; parse: (a: WholeAnswer) => T },
): Promise<T> {
  return client.get(
    path,
    query,
    async (res) => {
      const body = await readBody(res, o.cap);
      const status = embeddedStatus(body);
      if (status !== null) throw embeddedStatusError(res.url, status);
      return o.parse({ body, url: res.url });
    },
    undefined,
    o.limits,
  );
}
