// The master client a tool talks through, built from the common options and the settings
// (options win): nothing is connected here; the first request connects.
import { readFileSync } from 'node:fs';
import { WwError, describe } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { DEBUG_RETRY, MasterClient, UPSTREAM_RETRY, type RetryPolicy } from '../core/net/client.ts';
import type { SourcePortMode } from '../core/net/socket.ts';
import { parseMasterList, resolveMasters } from '../core/settings/masters.ts';
import { debugSetting, resolveHwaddr, resolveScheme } from '../core/settings/node.ts';
import { shownValue } from '../core/settings/number.ts';
import type { Settings } from '../core/settings/sources.ts';
import {
  ATTEMPTS,
  BUDGET,
  BYTES_PER_SEC,
  DEFAULT_CONNECT_TIMEOUT_S,
  DEFAULT_IDLE_TIMEOUT_S,
  DEFAULT_MAX_TIME_S,
  DEFAULT_SPEED_LIMIT,
  DEFAULT_SPEED_TIME_S,
  DURATION,
  INITRAMFS_IDLE_TIMEOUT_S,
  INITRAMFS_MAX_TIME_S,
  numberOption,
  type CommonValues,
} from './options.ts';
import { makeLogger, settingsFor, type ToolIO } from './tool.ts';

/** What a tool needs to ask the master: the client, and who this node is to it. */
export interface MasterContext {
  settings: Settings;
  log: Logger;
  hwaddr: string;
  client: MasterClient;
}

/**
 * http or https. A CA file only means something for TLS, so --ca-file alone implies https
 * (before, it was read and then plain http went to the TLS port, failing obscurely or, through
 * a plain-http port, silently unverified). WWHTTP=http set explicitly is kept, with a warning:
 * the CA file then applies only to a redirect to https.
 */
function chooseScheme(https: boolean, caFile: boolean, settings: Settings, log: Logger): 'http' | 'https' {
  if (https) return 'https';
  const scheme = resolveScheme(settings);
  if (scheme === 'https' || !caFile) return scheme;
  const explicit = (settings.get('WWHTTP') ?? '').trim();
  if (explicit === '') return 'https';
  log.warn(
    `WWHTTP=${shownValue(explicit)} (${settings.sourceOf('WWHTTP')}) with --ca-file: talking plain http; the CA file applies only to a redirect to https`,
  );
  return 'http';
}

/**
 * Builds the master client from options and settings (options win); `started` is when the run began
 * (--max-run), `concurrency` the ceiling of requests in flight at a master (--concurrency),
 * `initramfs` whether a node that gives up reboots (then a master that answers at all is never given up on,
 * and a slow answer is waited for longer: INITRAMFS_IDLE_TIMEOUT_S).
 */
export function masterContext(
  io: ToolIO,
  values: CommonValues,
  o: { log: Logger; settings: Settings; started?: number; concurrency?: number; initramfs?: boolean },
): MasterContext {
  const { log, settings, started = Date.now() } = o;
  // Options first: a usage error comes before any setting is read, any file opened or any master asked.
  const mode = (values['source-port'] ?? 'auto') as SourcePortMode;
  if (!['auto', 'privileged', 'any'].includes(mode)) {
    throw new WwError('WW_USAGE', `--source-port must be auto, privileged or any, not '${shownValue(mode)}'`);
  }
  const caFile = values['ca-file'];
  if (caFile === '') throw new WwError('WW_USAGE', '--ca-file needs a file (PEM CA certificates)');
  const optionMasters = values.master ? parseMasterList(values.master) : undefined;
  const attemptsOption = values.attempts === undefined ? undefined : numberOption(values.attempts, 'attempts', ATTEMPTS, 0);
  const maxWait = values['max-wait'] === undefined ? undefined : numberOption(values['max-wait'], 'max-wait', BUDGET, 0, 'seconds') * 1000;
  const ms = (name: 'connect-timeout' | 'timeout' | 'max-time' | 'speed-time' | 'max-run', dflt: number) =>
    numberOption(values[name], name, DURATION, dflt, 'seconds') * 1000;
  const maxTime = ms('max-time', o.initramfs ? INITRAMFS_MAX_TIME_S : DEFAULT_MAX_TIME_S);
  const speedLimit = numberOption(values['speed-limit'], 'speed-limit', BYTES_PER_SEC, DEFAULT_SPEED_LIMIT, 'bytes per second');
  const speedTime = ms('speed-time', DEFAULT_SPEED_TIME_S);
  const connectTimeout = ms('connect-timeout', DEFAULT_CONNECT_TIMEOUT_S);
  const idleTimeout = ms('timeout', o.initramfs ? INITRAMFS_IDLE_TIMEOUT_S : DEFAULT_IDLE_TIMEOUT_S);
  const maxRun = values['max-run'] === undefined ? undefined : ms('max-run', 0);

  // Then the settings.
  const masters = optionMasters ?? resolveMasters(settings, (l) => log.warn(l));
  if (masters.length === 0) throw new WwError('WW_NO_MASTER', 'Could not identify master node!');
  const hwaddr = resolveHwaddr(values.hwaddr ? { get: () => values.hwaddr, sourceOf: () => 'environment' } : settings);
  const scheme = chooseScheme(!!values.https, caFile !== undefined, settings, log);
  const base: RetryPolicy = debugSetting(settings) ? DEBUG_RETRY : UPSTREAM_RETRY;
  const attempts = attemptsOption ?? base.attempts;
  let ca: Buffer | undefined;
  if (caFile !== undefined) {
    try {
      ca = readFileSync(caFile);
    } catch (err) {
      throw new WwError('WW_CONFIG', `cannot read CA file ${caFile}: ${describe(err)}`);
    }
  }
  const client = new MasterClient({
    masters,
    scheme,
    connect: { sourcePort: mode, connectTimeoutMs: connectTimeout, ca, identity: io.identity },
    idleTimeoutMs: idleTimeout,
    maxTimeMs: maxTime,
    imageMaxTimeMs: values['max-time'] === undefined ? undefined : maxTime,
    speedLimit: speedLimit > 0 ? { bytesPerSec: speedLimit, windowMs: speedTime } : undefined,
    deadline: maxRun === undefined ? undefined : started + maxRun,
    retry: { ...base, attempts, maxWaitMs: maxWait, whileAnswering: !!o.initramfs },
    maxSockets: o.concurrency,
    log,
  });
  log.debug(`masters ${masters.map((m) => m.label).join(',')} (${settings.sourceOf('WWMASTER') ?? 'option'}), hwaddr ${hwaddr}, ${scheme}`);
  return { settings, log, hwaddr, client };
}

/**
 * Runs `use` with the master context of a tool that needs nothing before it (no lock, no target),
 * and closes the client's connections after, whatever `use` did.
 */
export async function withMaster<T>(io: ToolIO, values: CommonValues, name: string, use: (ctx: MasterContext) => Promise<T>): Promise<T> {
  const log = makeLogger(io, values, name);
  const ctx = masterContext(io, values, { log, settings: settingsFor(io, values) });
  try {
    return await use(ctx);
  } finally {
    ctx.client.close();
  }
}
