// The fleet report as a Prometheus textfile for the master's own node_exporter (its textfile
// collector reads *.prom in one folder): text exposition format, HELP and TYPE for each metric,
// base units (seconds), written whole under a temporary name beside the target and renamed onto
// it, so the collector never reads half a file.
import { basename, dirname } from 'node:path';
import { WwError, describe } from '../errors.ts';
import { TempFile } from '../fs/temp.ts';
import { ENDPOINTS } from './endpoints.ts';
import type { FleetReport, NodeReport } from './report.ts';

/** A label value: backslash, double quote and newline escaped (the exposition format's rule). */
function lv(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labels(l: Record<string, string>): string {
  const s = Object.entries(l)
    .map(([k, v]) => `${k}="${lv(v)}"`)
    .join(',');
  return s ? `{${s}}` : '';
}

const nodeLabels = (n: NodeReport) => ({ hwaddr: n.hwaddr, name: n.name ?? '', address: n.address });

export function renderTextfile(r: FleetReport): string {
  const out: string[] = [];
  const metric = (name: string, help: string, samples: [Record<string, string>, number][]) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
    for (const [l, v] of samples) out.push(`${name}${labels(l)} ${v}`);
  };
  const P = 'wwruntime_fleet';
  metric(`${P}_report_timestamp_seconds`, 'When the fleet report was made (its --now).', [[{}, r.now]]);
  metric(`${P}_window_seconds`, 'Length of the window errors, requests and boot-loops are counted in.', [[{}, r.now - r.since]]);
  metric(`${P}_stale_after_seconds`, 'A node is stale after this long without a file list request.', [[{}, r.staleAfter]]);
  metric(
    `${P}_nodes`,
    'Nodes seen in the access logs, by state.',
    (['ok', 'stale', 'failing', 'boot-loop'] as const).map((s) => [{ state: s }, r.nodes.filter((n) => n.state === s).length]),
  );
  metric(
    `${P}_log_lines`,
    'Access log lines read, by what they were.',
    (['node', 'other', 'garbage', 'long', 'partial', 'later', 'untracked'] as const).map((k) => [{ kind: k }, r.lines[k]]),
  );
  metric(`${P}_log_files`, 'Access log files read.', [[{}, r.files.read]]);
  metric(`${P}_log_files_damaged`, 'Compressed access log files that ended early or are corrupt.', [[{}, r.files.damaged.length]]);
  const contacts: [Record<string, string>, number][] = [];
  for (const n of r.nodes)
    for (const e of ENDPOINTS) {
      const c = n.contacts[e];
      if (c) contacts.push([{ ...nodeLabels(n), endpoint: e }, c.at]);
    }
  metric(`${P}_node_last_contact_timestamp_seconds`, "A node's newest request to an endpoint.", contacts);
  const answers: [Record<string, string>, number][] = [];
  for (const n of r.nodes)
    for (const e of ENDPOINTS) {
      const c = n.contacts[e];
      if (c) answers.push([{ ...nodeLabels(n), endpoint: e }, c.status]);
    }
  metric(`${P}_node_last_status`, "The HTTP status of a node's newest request to an endpoint.", answers);
  metric(
    `${P}_node_mark_timestamp_seconds`,
    "The mark (timestamp=) of a node's newest file list request: the newest file object it holds.",
    r.nodes.filter((n) => n.mark !== null).map((n) => [nodeLabels(n), n.mark as number]),
  );
  metric(
    `${P}_node_requests`,
    "A node's requests in the window.",
    r.nodes.map((n) => [nodeLabels(n), n.requests]),
  );
  const errors: [Record<string, string>, number][] = [];
  for (const n of r.nodes) for (const [s, c] of Object.entries(n.errorsByStatus)) errors.push([{ ...nodeLabels(n), status: s }, c]);
  metric(`${P}_node_http_errors`, "A node's requests answered 4xx or 5xx in the window, by status.", errors);
  metric(
    `${P}_node_vnfs_requests`,
    "A node's answered VNFS requests (boots) in the window.",
    r.nodes.map((n) => [nodeLabels(n), n.boots]),
  );
  metric(
    `${P}_node_stale`,
    '1 when the node made no file list request for longer than the stale limit.',
    r.nodes.map((n) => [nodeLabels(n), n.stale ? 1 : 0]),
  );
  metric(
    `${P}_node_failing`,
    "1 when a node's newest answer on some endpoint was an error.",
    r.nodes.map((n) => [nodeLabels(n), n.failing.length > 0 ? 1 : 0]),
  );
  metric(
    `${P}_node_boot_loop`,
    '1 when the node asked for its VNFS repeatedly within the boot-loop window.',
    r.nodes.map((n) => [nodeLabels(n), n.bootLoop ? 1 : 0]),
  );
  return `${out.join('\n')}\n`;
}

/** Writes text to path whole: a temporary beside it (fs/temp.ts), mode 0644, renamed over it. */
export function writeTextfile(path: string, text: string): void {
  let t: TempFile | undefined;
  try {
    t = TempFile.create(dirname(path), basename(path));
    t.write(Buffer.from(text));
    t.seal(0o644);
    t.commit(path);
  } catch (err) {
    t?.discard();
    throw new WwError('WW_IO', `cannot write the textfile ${path}: ${describe(err)}`);
  }
}
