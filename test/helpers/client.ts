// A master client for tests that exercise the core against the test master (not the client's own
// policies): plain http from any source port, one attempt, generous timeouts. `extra` replaces any of it.
import { memoryLogger } from '../../src/core/log.ts';
import { MasterClient, type MasterClientOptions } from '../../src/core/net/client.ts';
import { parseMasterList } from '../../src/core/settings/masters.ts';

export function testClient(address: string, extra: Partial<MasterClientOptions> = {}): MasterClient {
  return new MasterClient({
    masters: parseMasterList(address),
    scheme: 'http',
    connect: { sourcePort: 'any', connectTimeoutMs: 5000 },
    idleTimeoutMs: 10_000,
    retry: { attempts: 1, stepMs: 1000 },
    log: memoryLogger(),
    ...extra,
  });
}
