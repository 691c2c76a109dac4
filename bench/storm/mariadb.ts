// The storm master's database: Debian's MariaDB, started by the rig on its own datadir, socket
// and loopback port (never the system's /etc/mysql or /var/lib/mysql), with max_connections set
// per run. The schema is the rig's own, in the shape of Warewulf's datastore: nodes looked up by
// hwaddr, each node's attributes and file-object ids, the file objects' metadata, and their
// contents in chunks (Warewulf's "binstore").
import { spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import type { FileObject } from '../../test/helpers/master/fixtures.ts';
import { md5, scriptObjects, stormNode, type StormNode } from './data.ts';
import type { Procs } from './procs.ts';

export const DB_USER = 'warewulf';
export const DB_PASSWORD = 'storm';
export const DB_NAME = 'warewulf';
const CHUNK = 512 * 1024;

export interface MariaDb {
  pid: number;
  socket: string;
  port: number;
  child: ChildProcess;
  dsn: string;
  /** Runs SQL as root over the socket; returns stdout (tab-separated, no headers). */
  sql(statements: string): string;
  /** SHOW GLOBAL STATUS values. */
  status(names: string[]): Record<string, number>;
}

const TYPE_CHAR: Record<string, string> = { file: '-', dir: 'd', link: 'l', block: 'b', char: 'c', fifo: 'p', socket: 's' };

export async function startMariaDb(procs: Procs, dir: string, port: number, maxConnections: number): Promise<MariaDb> {
  const datadir = join(dir, 'data');
  const rundir = join(dir, 'run');
  fs.mkdirSync(datadir, { recursive: true });
  fs.mkdirSync(rundir, { recursive: true });
  for (const d of [dir, datadir, rundir]) fs.chownSync(d, uid('mysql'), gid('mysql'));
  fs.chmodSync(dir, 0o755);
  fs.chmodSync(rundir, 0o755);
  const inst = spawnSync(
    '/usr/bin/mariadb-install-db',
    ['--no-defaults', '--user=mysql', `--datadir=${datadir}`, '--skip-test-db', '--auth-root-authentication-method=socket'],
    { encoding: 'utf8', timeout: 120_000 },
  );
  if (inst.status !== 0) throw new Error(`storm: mariadb-install-db failed (${inst.status}): ${(inst.stderr || inst.stdout).slice(-2000)}`);
  const socket = join(rundir, 'mariadb.sock');
  const log = join(dir, 'mariadbd.log');
  const out = fs.openSync(log, 'a');
  const child = procs.spawn(
    'mariadbd',
    '/usr/sbin/mariadbd',
    [
      '--no-defaults',
      '--user=mysql',
      `--datadir=${datadir}`,
      `--socket=${socket}`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      `--pid-file=${join(rundir, 'mariadbd.pid')}`,
      `--log-error=${log}`,
      `--max-connections=${maxConnections}`,
      '--skip-name-resolve',
      '--skip-log-bin',
      '--innodb-buffer-pool-size=128M',
      '--innodb-log-file-size=32M',
      '--max-allowed-packet=64M',
    ],
    { stdio: ['ignore', out, out] },
  );
  fs.closeSync(out);
  const exited = new Promise<never>((_, rej) =>
    child.once('exit', (c, s) => rej(new Error(`storm: mariadbd exited (${c ?? s}) at start; see its log:\n${tail(log)}`))),
  );
  const until = Date.now() + 60_000;
  const cli = (input: string, args: string[] = []) =>
    spawnSync('/usr/bin/mariadb', ['--no-defaults', `--socket=${socket}`, '-u', 'root', '--batch', '--skip-column-names', ...args], {
      input,
      encoding: 'utf8',
      maxBuffer: 64 << 20,
      timeout: 300_000,
    });
  for (;;) {
    const ready = Promise.resolve().then(() => fs.existsSync(socket) && cli('SELECT 1').status === 0);
    if (await Promise.race([ready, exited])) break;
    if (Date.now() > until) throw new Error(`storm: mariadbd did not answer within 60 s; see its log:\n${tail(log)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  exited.catch(() => {});
  const sql = (statements: string): string => {
    const r = cli(statements);
    if (r.status !== 0) throw new Error(`storm: SQL failed: ${r.stderr.slice(0, 2000)}`);
    return r.stdout;
  };
  return {
    pid: child.pid!,
    socket,
    port,
    child,
    dsn: `DBI:MariaDB:database=${DB_NAME};mariadb_socket=${socket}`,
    sql,
    status(names) {
      const out: Record<string, number> = {};
      const rows = sql(`SHOW GLOBAL STATUS WHERE Variable_name IN (${names.map((n) => `'${n}'`).join(',')})`);
      for (const line of rows.split('\n')) {
        const [k, v] = line.split('\t');
        if (k) out[k] = Number(v);
      }
      return out;
    },
  };
}

const hex = (b: Buffer) => (b.length ? `X'${b.toString('hex')}'` : "''");
const str = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/** Creates the schema, the rig's database user (SELECT only: no extra "admin" connection past max_connections), and loads n nodes. */
export function loadData(db: MariaDb, nodes: number, objects: FileObject[]): StormNode[] {
  const lines: string[] = [
    `CREATE DATABASE ${DB_NAME};`,
    `CREATE USER '${DB_USER}'@'localhost' IDENTIFIED BY '${DB_PASSWORD}';`,
    `GRANT SELECT ON ${DB_NAME}.* TO '${DB_USER}'@'localhost';`,
    `USE ${DB_NAME};`,
    'CREATE TABLE node (id INT PRIMARY KEY, name VARCHAR(64) NOT NULL, hwaddr VARCHAR(64) NOT NULL, enabled TINYINT NOT NULL DEFAULT 1, UNIQUE KEY (hwaddr)) ENGINE=InnoDB;',
    'CREATE TABLE node_attr (node_id INT NOT NULL, k VARCHAR(64) NOT NULL, v TEXT, PRIMARY KEY (node_id, k)) ENGINE=InnoDB;',
    'CREATE TABLE node_file (node_id INT NOT NULL, file_id INT NOT NULL, PRIMARY KEY (node_id, file_id)) ENGINE=InnoDB;',
    'CREATE TABLE node_script (node_id INT NOT NULL, type VARCHAR(32) NOT NULL, ord INT NOT NULL, file_id INT NOT NULL, PRIMARY KEY (node_id, type, ord)) ENGINE=InnoDB;',
    'CREATE TABLE fileobj (id INT PRIMARY KEY, name VARCHAR(255) NOT NULL, uid INT NOT NULL, gid INT NOT NULL, ftype CHAR(1) NOT NULL, mode INT NOT NULL,' +
      ' timestamp BIGINT NOT NULL, path VARCHAR(4096) NOT NULL, format VARCHAR(16), checksum CHAR(32) NOT NULL, size BIGINT NOT NULL) ENGINE=InnoDB;',
    'CREATE TABLE binstore (file_id INT NOT NULL, chunk INT NOT NULL, data LONGBLOB NOT NULL, PRIMARY KEY (file_id, chunk)) ENGINE=InnoDB;',
  ];
  const all = [...objects, ...scriptObjects()];
  for (const o of all) {
    const raw = rawContent(o);
    lines.push(
      `INSERT INTO fileobj VALUES (${o.id}, ${str(o.name)}, ${o.uid}, ${o.gid}, '${TYPE_CHAR[o.type]}', ${o.mode & 0o7777}, ${o.timestamp}, ${str(o.path)}, ${o.format ? str(o.format) : 'NULL'}, '${md5(raw)}', ${raw.length});`,
    );
    for (let c = 0; c * CHUNK < Math.max(raw.length, 1); c++)
      lines.push(`INSERT INTO binstore VALUES (${o.id}, ${c}, ${hex(raw.subarray(c * CHUNK, (c + 1) * CHUNK))});`);
  }
  const list: StormNode[] = [];
  const nodeRows: string[] = [];
  const attrRows: string[] = [];
  const fileRows: string[] = [];
  const scriptRows: string[] = [];
  const flush = (table: string, rows: string[]) => {
    for (let i = 0; i < rows.length; i += 2000) lines.push(`INSERT INTO ${table} VALUES ${rows.slice(i, i + 2000).join(',')};`);
    rows.length = 0;
  };
  for (let i = 1; i <= nodes; i++) {
    const n = stormNode(i);
    list.push(n);
    nodeRows.push(`(${i}, ${str(n.name)}, ${str(n.hwaddr)}, 1)`);
    for (const [k, v] of Object.entries(n.attrs)) attrRows.push(`(${i}, ${str(k)}, ${str(v)})`);
    for (const o of objects) fileRows.push(`(${i}, ${o.id})`);
    scriptObjects().forEach((o, k) => scriptRows.push(`(${i}, 'runtime', ${k}, ${o.id})`));
    if (fileRows.length > 20_000) flush('node_file', fileRows);
  }
  flush('node', nodeRows);
  flush('node_attr', attrRows);
  flush('node_file', fileRows);
  flush('node_script', scriptRows);
  db.sql(lines.join('\n'));
  return list;
}

function rawContent(o: FileObject): Buffer {
  if (o.type === 'dir') return Buffer.from(o.content === undefined ? o.path : String(o.content));
  return o.content === undefined ? Buffer.alloc(0) : Buffer.isBuffer(o.content) ? o.content : Buffer.from(o.content);
}

function tail(path: string): string {
  try {
    return fs.readFileSync(path, 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    return '(no log)';
  }
}

function uid(user: string): number {
  return Number(spawnSync('/usr/bin/id', ['-u', user], { encoding: 'utf8' }).stdout.trim());
}
function gid(user: string): number {
  return Number(spawnSync('/usr/bin/id', ['-g', user], { encoding: 'utf8' }).stdout.trim());
}
