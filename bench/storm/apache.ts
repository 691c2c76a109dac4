// The storm master's web server: Debian's apache2 binary with the prefork MPM, mod_status and
// mod_perl, run from a self-contained configuration the rig writes (modules loaded by absolute
// path; nothing of /etc/apache2 is read), as root with its children as www-data, on a loopback
// port, in the foreground in its own process group. The same frame also serves the fleet
// report's test (test/e2e/fleet.test.ts): /WW proxied to the test master, logged as a Warewulf
// master logs (combined).
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import http from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Procs } from './procs.ts';

const MODULES = '/usr/lib/apache2/modules';
export const PERL_DIR = join(dirname(fileURLToPath(import.meta.url)), 'perl');

export interface ApacheOptions {
  port: number;
  /** MaxRequestWorkers (ServerLimit follows when above Apache's default 256). */
  workers: number;
  /** ListenBacklog (Apache's default 511). */
  backlog: number;
  dsn: string;
  dbUser: string;
  dbPassword: string;
  firstCpuMs: number;
  requestCpuMs: number;
  requestWaitMs: number;
  busyFraction: number;
}

export interface Apache {
  pid: number;
  child: ChildProcess;
  dir: string;
  port: number;
  accessLog: string;
  errorLog: string;
  /** Folder whose file 'busy' makes every request a 503 while it exists. */
  controlDir: string;
}

/** What serves /WW: its modules and its configuration section. */
interface WwSection {
  modules: [string, string][];
  section: string;
}

/** Access log formats: the rig's own (timings per request), or the distributions' default `combined`. */
const LOG_FORMATS = {
  // client address and port, request start (epoch.ms), duration (us), child pid, keep-alive
  // requests before this one on the connection, connection state at the end, request, status, bytes
  storm: '"%h %{remote}p %{sec}t.%{msec_frac}t %D %P %k %X \\"%r\\" %>s %B" storm',
  // as EL's httpd.conf and Debian's apache2.conf define it
  combined: '"%h %l %u %t \\"%r\\" %>s %b \\"%{Referer}i\\" \\"%{User-Agent}i\\"" combined',
} as const;

const q = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/** The frame every configuration of the rig shares: prefork, the status page, the logs; `ww` serves /WW. */
function frameConfig(
  dir: string,
  o: { port: number; workers: number; backlog: number },
  ww: WwSection,
  log: keyof typeof LOG_FORMATS,
): string {
  return `# Written by the storm rig (bench/storm/apache.ts); read by /usr/sbin/apache2 -f.
ServerRoot ${q(dir)}
DefaultRuntimeDir ${q(join(dir, 'run'))}
PidFile ${q(join(dir, 'run', 'httpd.pid'))}
Mutex file:${join(dir, 'run')} default
LoadModule mpm_prefork_module ${MODULES}/mod_mpm_prefork.so
LoadModule status_module ${MODULES}/mod_status.so
LoadModule authn_core_module ${MODULES}/mod_authn_core.so
LoadModule authz_core_module ${MODULES}/mod_authz_core.so
LoadModule authz_host_module ${MODULES}/mod_authz_host.so
${ww.modules.map(([name, file]) => `LoadModule ${name} ${MODULES}/${file}`).join('\n')}
User www-data
Group www-data
ServerName 127.0.0.1
Listen 127.0.0.1:${o.port}
ListenBacklog ${o.backlog}
ErrorLog ${q(join(dir, 'error.log'))}
LogLevel warn
LogFormat ${LOG_FORMATS[log]}
CustomLog ${q(join(dir, 'access.log'))} ${log}
Timeout 60
KeepAlive On
KeepAliveTimeout 5
MaxKeepAliveRequests 100
# prefork: Apache's defaults but MaxRequestWorkers (and ServerLimit when above 256)
StartServers 5
MinSpareServers 5
MaxSpareServers 10
ServerLimit ${Math.max(256, o.workers)}
MaxRequestWorkers ${o.workers}
MaxConnectionsPerChild 0
ExtendedStatus On
<Location />
    Require all denied
</Location>
<Location /server-status>
    SetHandler server-status
    Require local
</Location>
${ww.section}`;
}

export function apacheConfig(dir: string, o: ApacheOptions): string {
  const section = `PerlSwitches -I${PERL_DIR}
<Location /WW>
    Require all granted
    SetHandler modperl
    PerlResponseHandler WWStorm
    PerlSetVar StormDSN ${q(o.dsn)}
    PerlSetVar StormDBUser ${q(o.dbUser)}
    PerlSetVar StormDBPassword ${q(o.dbPassword)}
    PerlSetVar StormFirstCpuMs ${o.firstCpuMs}
    PerlSetVar StormRequestCpuMs ${o.requestCpuMs}
    PerlSetVar StormRequestWaitMs ${o.requestWaitMs}
    PerlSetVar StormBusyFraction ${o.busyFraction}
    PerlSetVar StormControlDir ${q(join(dir, 'control'))}
</Location>
`;
  return frameConfig(dir, o, { modules: [['perl_module', 'mod_perl.so']], section }, 'storm');
}

export interface ProxyOptions {
  port: number;
  /** The server that answers /WW (e.g. the test master, test/helpers/master/server.ts): http://host:port */
  backend: string;
}

/**
 * Apache in front of another master (mod_proxy): the requests reach Apache from the nodes and are
 * logged as a Warewulf master logs them, the distributions' default `combined` format.
 */
export function proxyConfig(dir: string, o: ProxyOptions): string {
  const section = `<Location /WW/>
    Require all granted
    ProxyPass ${o.backend}/WW/
</Location>
`;
  return frameConfig(
    dir,
    { port: o.port, workers: 16, backlog: 511 },
    {
      modules: [
        ['proxy_module', 'mod_proxy.so'],
        ['proxy_http_module', 'mod_proxy_http.so'],
      ],
      section,
    },
    'combined',
  );
}

export async function startApache(procs: Procs, dir: string, o: ApacheOptions): Promise<Apache> {
  return startServer(procs, dir, o.port, (d) => apacheConfig(d, o));
}

/** Apache proxying /WW to `o.backend`, logging in the combined format (proxyConfig). */
export async function startProxyApache(procs: Procs, dir: string, o: ProxyOptions): Promise<Apache> {
  return startServer(procs, dir, o.port, (d) => proxyConfig(d, o));
}

async function startServer(procs: Procs, dir: string, port: number, config: (dir: string) => string): Promise<Apache> {
  fs.mkdirSync(join(dir, 'run'), { recursive: true });
  fs.mkdirSync(join(dir, 'control'), { recursive: true });
  fs.chmodSync(dir, 0o755);
  fs.chmodSync(join(dir, 'control'), 0o755);
  const conf = join(dir, 'httpd.conf');
  fs.writeFileSync(conf, config(dir));
  const out = fs.openSync(join(dir, 'apache2.out'), 'a');
  const child = procs.spawn('apache2', '/usr/sbin/apache2', ['-f', conf, '-DFOREGROUND'], {
    stdio: ['ignore', out, out],
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C' },
  });
  fs.closeSync(out);
  let exited: string | undefined;
  child.once('exit', (c, s) => (exited = String(c ?? s)));
  const until = Date.now() + 30_000;
  for (;;) {
    if (exited !== undefined) {
      throw new Error(
        `storm: apache2 exited (${exited}) at start:\n${readTail(join(dir, 'apache2.out'))}\n${readTail(join(dir, 'error.log'))}`,
      );
    }
    const s = await serverStatus(port, 1000).catch(() => undefined);
    if (s && s.processes >= 5) break;
    if (Date.now() > until) throw new Error(`storm: apache2 did not answer within 30 s:\n${readTail(join(dir, 'error.log'))}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    pid: child.pid!,
    child,
    dir,
    port,
    accessLog: join(dir, 'access.log'),
    errorLog: join(dir, 'error.log'),
    controlDir: join(dir, 'control'),
  };
}

/**
 * Rotates the access log as logrotate does: renames it to `to`, then a graceful restart (SIGUSR1)
 * makes Apache open a new one; resolves once the new log exists and Apache answers again.
 */
export async function rotateAccessLog(a: Apache, to: string): Promise<void> {
  fs.renameSync(a.accessLog, to);
  process.kill(a.pid, 'SIGUSR1');
  const until = Date.now() + 15_000;
  for (;;) {
    if (fs.existsSync(a.accessLog) && (await serverStatus(a.port, 1000).catch(() => undefined))) return;
    if (Date.now() > until) throw new Error(`storm: apache2 did not reopen its access log within 15 s:\n${readTail(a.errorLog)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface StatusSample {
  /** Seconds since the storm began. */
  t: number;
  /** Busy workers, the status request itself not counted (an unanswered poll: every child, see StatusPoller). */
  busy: number;
  /** Of them, idle keep-alive connections ('K'). */
  keepalive: number;
  idle: number;
  /** Child processes (scoreboard slots in use). */
  processes: number;
  /** Connections waiting in the listen queue (kernel accept queue, /proc/net/tcp). */
  queued: number;
  /** The status page did not answer within the poll's timeout (every worker busy). */
  unanswered: boolean;
}

export interface Status {
  busy: number;
  idle: number;
  keepalive: number;
  processes: number;
}

/** GET /server-status?auto on a fresh connection (Connection: close, so it holds no worker afterwards). */
export function serverStatus(port: number, timeoutMs: number): Promise<Status> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: '127.0.0.1', port, path: '/server-status?auto', agent: false, headers: { Connection: 'close' }, timeout: timeoutMs },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d) => chunks.push(d));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString();
          const field = (k: string) => Number(new RegExp(`^${k}: (\\d+)`, 'm').exec(body)?.[1] ?? NaN);
          const board = /^Scoreboard: (\S+)/m.exec(body)?.[1] ?? '';
          if (res.statusCode !== 200 || !board) return reject(new Error(`server-status: HTTP ${res.statusCode}`));
          let keepalive = 0;
          let processes = 0;
          for (const c of board) {
            if (c === 'K') keepalive++;
            if (c !== '.') processes++;
          }
          // The status request is one of the busy workers ('W'): not counted.
          resolve({ busy: Math.max(0, field('BusyWorkers') - 1), idle: field('IdleWorkers'), keepalive, processes });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('server-status: timeout')));
    req.on('error', reject);
  });
}

/** The kernel accept queue of the listening socket 127.0.0.1:port (rx_queue of its LISTEN line in /proc/net/tcp). */
export function listenQueue(port: number): number {
  const want = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  try {
    for (const line of fs.readFileSync('/proc/net/tcp', 'utf8').split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f[1] === want && f[3] === '0A') return parseInt(f[4].split(':')[1], 16);
    }
  } catch {
    // no /proc
  }
  return 0;
}

/**
 * Polls the status page every intervalMs, each poll on a fresh connection with its own timeout
 * (up to 4 outstanding). A poll that gets no answer in time is recorded as unanswered: no worker
 * was free to take its connection (or the machine was too busy to serve it), so every child
 * process of Apache (counted in /proc) is taken as busy.
 */
export class StatusPoller {
  readonly samples: StatusSample[] = [];
  private timer: NodeJS.Timeout;
  private outstanding = new Set<Promise<void>>();
  private last: Status = { busy: 0, idle: 0, keepalive: 0, processes: 0 };
  constructor(
    port: number,
    t0: number,
    readonly apachePid: number,
    intervalMs = 500,
    timeoutMs = 3000,
  ) {
    const poll = () => {
      if (this.outstanding.size >= 4) return;
      const queued = listenQueue(port);
      const p: Promise<void> = serverStatus(port, timeoutMs)
        .then(
          (s) => {
            this.last = s;
            this.samples.push({ t: (performance.now() - t0) / 1000, ...s, queued, unanswered: false });
          },
          () => {
            const children = childrenOf(this.apachePid);
            this.samples.push({
              t: (performance.now() - t0) / 1000,
              busy: children,
              keepalive: this.last.keepalive,
              idle: 0,
              processes: children,
              queued,
              unanswered: true,
            });
          },
        )
        .finally(() => this.outstanding.delete(p));
      this.outstanding.add(p);
    };
    poll();
    this.timer = setInterval(poll, intervalMs);
  }
  async stop(): Promise<StatusSample[]> {
    clearInterval(this.timer);
    await Promise.all([...this.outstanding]);
    this.samples.sort((a, b) => a.t - b.t);
    return this.samples;
  }
}

export interface LogEntry {
  /** Request start, epoch seconds. */
  at: number;
  us: number;
  pid: number;
  /** Keep-alive requests on the connection before this one (0: a new connection). */
  keepalive: number;
  path: string;
  query: string;
  status: number;
  bytes: number;
}

const LOG_RE = /^\S+ \d+ (\d+\.\d+) (\d+) (\d+) (\d+) \S "GET (\/[^? ]*)\??(\S*) [^"]*" (\d{3}) (\d+|-)$/;

export function readAccessLog(path: string): LogEntry[] {
  const out: LogEntry[] = [];
  let text = '';
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    const m = LOG_RE.exec(line);
    if (!m) continue;
    out.push({
      at: Number(m[1]),
      us: Number(m[2]),
      pid: Number(m[3]),
      keepalive: Number(m[4]),
      path: m[5],
      query: m[6],
      status: Number(m[7]),
      bytes: m[8] === '-' ? 0 : Number(m[8]),
    });
  }
  return out;
}

// ---------------------------------------------------------------------------
// CPU accounting from /proc (clock ticks: 100 per second on Linux x86-64)

const TICK = 100;

function statFields(pid: number): string[] | undefined {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** CPU seconds of a process itself (user + system, all its threads). */
export function cpuOf(pid: number): number {
  const f = statFields(pid);
  return f ? (Number(f[11]) + Number(f[12])) / TICK : 0;
}

/**
 * CPU seconds of Apache: the parent's own, its reaped children's (cutime + cstime: prefork's
 * parent waits for every child it ends), and its live children's.
 */
export function apacheCpu(parent: number): number {
  const f = statFields(parent);
  if (!f) return 0;
  let total = (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / TICK;
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const c = statFields(Number(d));
    if (c && Number(c[1]) === parent) total += (Number(c[11]) + Number(c[12])) / TICK;
  }
  return total;
}

/** Apache's child processes (prefork: one per worker). */
export function childrenOf(parent: number): number {
  let n = 0;
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const c = statFields(Number(d));
    if (c && Number(c[1]) === parent) n++;
  }
  return n;
}

/** Whole-machine CPU seconds used and available since boot (/proc/stat), for the load during a run. */
export function machineCpu(): { busy: number; total: number } {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = line[3] + (line[4] ?? 0);
  const total = line.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: (total - idle) / TICK, total: total / TICK };
}

function readTail(path: string): string {
  try {
    return fs.readFileSync(path, 'utf8').split('\n').slice(-20).join('\n');
  } catch {
    return '';
  }
}

export async function stopApache(procs: Procs, a: Apache): Promise<void> {
  await procs.stop(a.child, 10_000);
}
