// The fleet report as text: a first line that is the summary (and a Nagios/Icinga plugin's status
// line, with performance data after `|`), then one row per node, problems first. Times are ages
// before the report's time; --json gives the exact values.
import { ENDPOINTS } from './endpoints.ts';
import type { Contact, FleetReport, NodeReport } from './report.ts';

/** 45s, 12m, 5h, 3d: an age in its largest sensible unit. */
export function age(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 120) return `${s}s`;
  if (s < 120 * 60) return `${Math.floor(s / 60)}m`;
  if (s < 48 * 3600) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

export function skipped(r: FleetReport): number {
  return r.lines.garbage + r.lines.long + r.lines.partial;
}

export function summaryLine(r: FleetReport): string {
  const s = r.summary;
  const parts = [
    `${s.nodes} node${s.nodes === 1 ? '' : 's'}`,
    `${s.stale} stale`,
    `${s.failing} failing`,
    `${s.bootLoop} boot-looping`,
    `${s.ok} ok`,
  ];
  const why: string[] = [];
  if (r.lines.garbage) why.push(`${r.lines.garbage} not access log lines`);
  if (r.lines.long) why.push(`${r.lines.long} too long`);
  if (r.lines.partial) why.push(`${r.lines.partial} half-written`);
  const skip = skipped(r);
  const lines = `${r.lines.read} lines in ${r.files.read} file${r.files.read === 1 ? '' : 's'}, ${skip} skipped${why.length ? ` (${why.join(', ')})` : ''}`;
  const extra = [
    r.files.damaged.length ? `${r.files.damaged.length} damaged` : '',
    r.lines.later ? `${r.lines.later} after the report time` : '',
    r.lines.untracked ? `${r.lines.untracked} of untracked nodes` : '',
  ].filter(Boolean);
  const perf = [
    `nodes=${s.nodes}`,
    `ok=${s.ok}`,
    `stale=${s.stale}`,
    `failing=${s.failing}`,
    `boot_loop=${s.bootLoop}`,
    `lines=${r.lines.read}`,
    `skipped=${skip}`,
  ];
  return (
    `FLEET ${r.status}: ${parts.join(', ')}; window ${age(r.now - r.since)}, stale after ${age(r.staleAfter)} without a file list request; ` +
    `${lines}${extra.length ? `; ${extra.join(', ')}` : ''} | ${perf.join(' ')}`
  );
}

function cell(c: Contact | null, now: number): string {
  if (!c) return '-';
  return c.status >= 400 ? `${age(now - c.at)}!${c.status}` : age(now - c.at);
}

function note(n: NodeReport, r: FleetReport): string {
  const out: string[] = [];
  if (n.stale)
    out.push(
      n.contacts.list
        ? `no file list request for ${age(r.now - n.contacts.list.at)}`
        : `never asked for its file list (first seen ${age(r.now - n.firstSeen)} ago)`,
    );
  for (const e of n.failing) out.push(`newest ${e} answer ${n.contacts[e]?.status}`);
  if (n.bootLoop) out.push(`${n.boots} VNFS requests in the window`);
  if (n.errors > 0)
    out.push(
      `errors ${Object.entries(n.errorsByStatus)
        .map(([s, c]) => `${s}x${c}`)
        .join(' ')}`,
    );
  if (n.addresses.length > 1) out.push(`also from ${n.addresses.filter((a) => a !== n.address).join(',')}`);
  return out.join('; ');
}

/** The whole text report: the summary line, then the table (when there are nodes), each line ending in a newline. */
export function renderText(r: FleetReport): string {
  const head = ['HWADDR', 'NAME', 'ADDRESS', 'STATE', 'LIST', 'CONTENT', 'SCRIPT', 'NODECONFIG', 'VNFS', 'MARK', 'ERRORS', 'NOTE'];
  const rows = r.nodes.map((n) => [
    n.hwaddr,
    n.name ?? '-',
    n.address,
    n.state,
    ...ENDPOINTS.map((e) => cell(n.contacts[e], r.now)),
    n.mark === null ? '-' : String(n.mark),
    String(n.errors),
    note(n, r),
  ]);
  const out = [summaryLine(r)];
  for (const d of r.files.damaged) out.push(`damaged: ${d}`);
  if (rows.length > 0) {
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
    const fmt = (row: string[]) =>
      row
        .map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i])))
        .join('  ')
        .trimEnd();
    out.push(fmt(head), ...rows.map(fmt));
  }
  return `${out.join('\n')}\n`;
}

export function renderJson(r: FleetReport): string {
  return `${JSON.stringify(r, null, 2)}\n`;
}
