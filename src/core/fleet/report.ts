// The fleet as the master's access log shows it: every node request is tallied per node
// (hwaddr), in whatever order the lines come (logs may be given newest first), and the tally
// becomes the report: per node its last contact per endpoint, the mark it reported, its errors
// in the window, whether it stopped polling (stale), whether its newest answers are errors
// (failing), whether it boots over and over (boot-loop); and the fleet's state in Nagios terms.
import { parseAccessLine } from './accesslog.ts';
import { ENDPOINTS, nodeRequest, type Endpoint } from './endpoints.ts';
import type { FileLines } from './logfiles.ts';

/** Exit codes and states, after the Nagios plugin conventions. */
export const FLEET_EXIT = { OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 } as const;
export type FleetStatus = 'OK' | 'WARNING' | 'CRITICAL' | 'UNKNOWN';

/** More distinct hwaddrs than this (a hostile or foreign log) are counted, not tracked: memory stays bounded. */
export const MAX_NODES = 100_000;
/** Source addresses kept per node (a node normally has one). */
const MAX_ADDRESSES = 8;
/** VNFS request times kept per node, the newest (a boot-loop shows in far fewer). */
const MAX_BOOTS = 2048;

export interface Contact {
  /** Epoch seconds. */
  at: number;
  status: number;
}

interface NodeTally {
  hwaddr: string;
  address: string;
  addressAt: number;
  addresses: Set<string>;
  first: number;
  last: number;
  contacts: Partial<Record<Endpoint, Contact>>;
  mark?: { value: number; at: number };
  /** In the window from here on. */
  requests: number;
  errors: Map<number, number>;
  lastError?: Contact & { endpoint: Endpoint };
  boots: number[];
}

export interface LineCounts {
  /** Lines read (whole lines, plus a half-written last line). */
  read: number;
  /** Requests of nodes (hwaddr= on a /WW endpoint). */
  node: number;
  /** Other access log lines: other paths, no valid hwaddr, the VNFS cache. */
  other: number;
  /** Not an access log line in the combined, common or vhost_combined format. */
  garbage: number;
  /** Longer than a log line can be. */
  long: number;
  /** A file's last line, cut short (being written, or a truncated copy). */
  partial: number;
  /** Dated after the report's time (--now). */
  later: number;
  /** Of nodes past MAX_NODES. */
  untracked: number;
}

export interface FileCounts {
  read: number;
  gzip: number;
  /** Compressed files that ended early or are corrupt: "PATH: why". */
  damaged: string[];
}

/** Which lines count: the tally's. */
export interface FleetWindow {
  /** The report's time, epoch seconds: later lines are not counted. */
  now: number;
  /** Start of the window for errors, request counts and boot-loops, epoch seconds. */
  since: number;
}

/** The verdicts' thresholds: the report's (one tally may be judged more than once). */
export interface FleetThresholds {
  /** How often a node asks for its file list, seconds (the runtime services' cron: 5 min). */
  interval: number;
  /** Stale after this many intervals without a file list request. */
  staleIntervals: number;
  /** A boot-loop: at least `count` VNFS requests within `window` seconds. */
  bootLoop: { count: number; window: number };
}

export interface NodeReport {
  hwaddr: string;
  /** From `wwsh node print`, when it was read and knows the hwaddr. */
  name: string | null;
  /** The source address of its newest request, and every one seen (a few). */
  address: string;
  addresses: string[];
  firstSeen: number;
  lastSeen: number;
  contacts: Record<Endpoint, Contact | null>;
  /** The mark (timestamp=) of its newest file list request; null when it never asked for one. */
  mark: number | null;
  markAt: number | null;
  /** In the window. */
  requests: number;
  errors: number;
  errorsByStatus: Record<string, number>;
  lastError: (Contact & { endpoint: Endpoint }) | null;
  /** VNFS requests answered (not 4xx/5xx) in the window. */
  boots: number;
  stale: boolean;
  /** Endpoints whose newest answer, in the window, was an error. */
  failing: Endpoint[];
  bootLoop: boolean;
  state: 'stale' | 'failing' | 'boot-loop' | 'ok';
}

export interface FleetReport {
  now: number;
  since: number;
  interval: number;
  staleAfter: number;
  bootLoop: { count: number; window: number };
  status: FleetStatus;
  exitCode: number;
  nodes: NodeReport[];
  summary: { nodes: number; ok: number; stale: number; failing: number; bootLoop: number; named: number | null };
  lines: LineCounts;
  files: FileCounts;
}

/** Tallies access log lines, in any order, as of a time (`now`) and from a window start (`since`). */
export class FleetTally {
  readonly lines: LineCounts = { read: 0, node: 0, other: 0, garbage: 0, long: 0, partial: 0, later: 0, untracked: 0 };
  readonly files: FileCounts = { read: 0, gzip: 0, damaged: [] };
  private readonly nodes = new Map<string, NodeTally>();

  constructor(private readonly o: FleetWindow) {}

  /** One line of a log (readLogLines' onLine). */
  addLine(line: string): void {
    this.lines.read++;
    const r = parseAccessLine(line);
    if (!r) {
      this.lines.garbage++;
      return;
    }
    if (r.at > this.o.now) {
      this.lines.later++;
      return;
    }
    const q = nodeRequest(r);
    if (!q) {
      this.lines.other++;
      return;
    }
    let n = this.nodes.get(q.hwaddr);
    if (!n) {
      if (this.nodes.size >= MAX_NODES) {
        this.lines.untracked++;
        return;
      }
      n = {
        hwaddr: q.hwaddr,
        address: r.address,
        addressAt: r.at,
        addresses: new Set([r.address]),
        first: r.at,
        last: r.at,
        contacts: {},
        requests: 0,
        errors: new Map(),
        boots: [],
      };
      this.nodes.set(q.hwaddr, n);
    }
    this.lines.node++;
    n.first = Math.min(n.first, r.at);
    n.last = Math.max(n.last, r.at);
    // Ties go to the line read later: within one log, the later line.
    if (r.at >= n.addressAt) {
      n.address = r.address;
      n.addressAt = r.at;
    }
    if (n.addresses.size < MAX_ADDRESSES) n.addresses.add(r.address);
    const c = n.contacts[q.endpoint];
    if (!c || r.at >= c.at) n.contacts[q.endpoint] = { at: r.at, status: r.status };
    if (q.mark !== undefined && (!n.mark || r.at >= n.mark.at)) n.mark = { value: q.mark, at: r.at };
    if (r.at < this.o.since) return;
    n.requests++;
    if (r.status >= 400) {
      n.errors.set(r.status, (n.errors.get(r.status) ?? 0) + 1);
      if (!n.lastError || r.at >= n.lastError.at) n.lastError = { at: r.at, status: r.status, endpoint: q.endpoint };
    } else if (q.endpoint === 'vnfs') {
      n.boots.push(r.at);
      if (n.boots.length > MAX_BOOTS * 2) n.boots = n.boots.sort((a, b) => a - b).slice(-MAX_BOOTS);
    }
  }

  /** What reading a file found besides its lines (readLogLines' result). */
  addFile(path: string, f: FileLines): void {
    this.files.read++;
    if (f.gzip) this.files.gzip++;
    if (f.damaged) this.files.damaged.push(`${path}: ${f.damaged}`);
    this.lines.long += f.long;
    this.lines.read += f.long;
    if (f.partial) {
      this.lines.partial++;
      this.lines.read++;
    }
  }

  /** The report; `names` maps lower-case hwaddrs to node names (null: not looked up). */
  report(t: FleetThresholds, names: Map<string, string> | null = null): FleetReport {
    const o = { ...this.o, ...t };
    const staleAfter = o.interval * o.staleIntervals;
    const nodes = [...this.nodes.values()].map((n) => nodeReport(n, o, staleAfter, names));
    const rank = { stale: 0, failing: 1, 'boot-loop': 2, ok: 3 };
    nodes.sort(
      (a, b) => rank[a.state] - rank[b.state] || (a.name ?? '\uffff').localeCompare(b.name ?? '\uffff') || cmp(a.hwaddr, b.hwaddr),
    );
    const count = (f: (n: NodeReport) => boolean) => nodes.filter(f).length;
    const summary = {
      nodes: nodes.length,
      ok: count((n) => n.state === 'ok'),
      stale: count((n) => n.stale),
      failing: count((n) => n.failing.length > 0),
      bootLoop: count((n) => n.bootLoop),
      named: names ? count((n) => n.name !== null) : null,
    };
    // No node at all is no evidence that the fleet is fine (a wrong log, another server's): UNKNOWN.
    const status: FleetStatus =
      summary.nodes === 0 ? 'UNKNOWN' : summary.stale > 0 ? 'CRITICAL' : summary.failing + summary.bootLoop > 0 ? 'WARNING' : 'OK';
    return {
      now: o.now,
      since: o.since,
      interval: o.interval,
      staleAfter,
      bootLoop: o.bootLoop,
      status,
      exitCode: FLEET_EXIT[status],
      nodes,
      summary,
      lines: { ...this.lines },
      files: { ...this.files, damaged: [...this.files.damaged] },
    };
  }
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function nodeReport(n: NodeTally, o: FleetWindow & FleetThresholds, staleAfter: number, names: Map<string, string> | null): NodeReport {
  const contacts = Object.fromEntries(ENDPOINTS.map((e) => [e, n.contacts[e] ?? null])) as Record<Endpoint, Contact | null>;
  // A node that never asked for its list is judged from its first contact: polling should have begun by then.
  const polled = contacts.list?.at ?? n.first;
  const stale = o.now - polled > staleAfter;
  const failing = ENDPOINTS.filter((e) => {
    const c = contacts[e];
    return c !== null && c.at >= o.since && c.status >= 400;
  });
  const boots = n.boots.sort((a, b) => a - b);
  let bootLoop = false;
  for (let i = 0; i + o.bootLoop.count - 1 < boots.length && !bootLoop; i++)
    bootLoop = boots[i + o.bootLoop.count - 1] - boots[i] <= o.bootLoop.window;
  const errorsByStatus = Object.fromEntries([...n.errors.entries()].sort((a, b) => a[0] - b[0]).map(([s, c]) => [String(s), c]));
  return {
    hwaddr: n.hwaddr,
    name: names?.get(n.hwaddr.toLowerCase()) ?? null,
    address: n.address,
    addresses: [...n.addresses],
    firstSeen: n.first,
    lastSeen: n.last,
    contacts,
    mark: n.mark?.value ?? null,
    markAt: n.mark?.at ?? null,
    requests: n.requests,
    errors: [...n.errors.values()].reduce((a, b) => a + b, 0),
    errorsByStatus,
    lastError: n.lastError ?? null,
    boots: boots.length,
    stale,
    failing,
    bootLoop,
    state: stale ? 'stale' : failing.length > 0 ? 'failing' : bootLoop ? 'boot-loop' : 'ok',
  };
}
