// Behaviour before and after a change, on the test master: runs the same scenarios with two
// builds (this tree's dist/ and OTHER's, e.g. a worktree of an older commit) and compares what
// they did: exit statuses, stdout and stderr (with the scratch paths and ports made neutral),
// and the trees they left (path, type, mode, owner, size, content hash, link target).
//   node --import tsx bench/compare-builds.ts OTHER_DIST
// Prints one line per scenario and 'N same, N differ'; exits 1 when any differs.
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ROOT, run } from '../test/helpers/exec.ts';
import { sampleFixture } from '../test/helpers/master/fixtures.ts';
import { startMaster } from '../test/helpers/master/server.ts';
import { HWADDR } from '../test/helpers/node.ts';
import { walkTree, withoutRunRecords } from '../test/helpers/tree.ts';

const other = resolve(process.argv[2] ?? '');
const builds = { after: join(ROOT, 'dist/linux-x64'), before: join(other, 'linux-x64') };

interface Scenario {
  name: string;
  tool: string;
  args: (work: string) => string[];
  env?: Record<string, string>;
  /** The folder whose tree is compared, relative to the run's scratch folder. */
  tree?: string;
  /** The master varies the node configuration's key order on purpose (PROTOCOL 2.7): compare it sorted. */
  sorted?: boolean;
  /** Runs first, in the same scratch folder (e.g. a first sync before a second). */
  before?: Scenario;
}

const scenarios: Scenario[] = [
  { name: 'nodeconfig', tool: 'wwgetnodeconfig', args: () => [], sorted: true },
  { name: 'nodeconfig --json', tool: 'wwgetnodeconfig', args: () => ['--json'], sorted: true },
  { name: 'runtime script', tool: 'wwgetscript', args: () => ['runtime'] },
  { name: 'bad script type', tool: 'wwgetscript', args: () => ['no/such'] },
  { name: 'full sync', tool: 'wwgetfiles', args: () => ['--no-delay'], tree: 'root' },
  { name: 'dry run', tool: 'wwgetfiles', args: () => ['--no-delay', '--dry-run'], tree: 'root' },
  {
    name: 'second sync (mark)',
    tool: 'wwgetfiles',
    args: () => ['--no-delay'],
    tree: 'root',
    before: { name: '', tool: 'wwgetfiles', args: () => ['--no-delay'] },
  },
  {
    name: '-F after a sync',
    tool: 'wwgetfiles',
    args: () => ['--no-delay', '-F', '-v'],
    tree: 'root',
    before: { name: '', tool: 'wwgetfiles', args: () => ['--no-delay'] },
  },
  { name: 'unknown node', tool: 'wwgetfiles', args: () => ['--no-delay'], env: { WWINIT_HWADDR: 'de:ad:be:ef:00:01' }, tree: 'root' },
  { name: 'no master', tool: 'wwgetfiles', args: () => ['--no-delay'], env: { WWMASTER: '' } },
  { name: 'bad option', tool: 'wwgetfiles', args: () => ['--attempts', '0x10'] },
  { name: 'VNFS into a target', tool: 'wwgetvnfs', args: (w) => ['--target', join(w, 'vnfs')], tree: 'vnfs' },
  { name: 'VNFS onto the live root', tool: 'wwgetvnfs', args: () => [], env: { NEWROOT: '' } },
  { name: 'help wwgetfiles', tool: 'wwgetfiles', args: () => ['--help'] },
  { name: 'help wwgetvnfs', tool: 'wwgetvnfs', args: () => ['--help'] },
  { name: 'multi-call help', tool: 'wwruntime', args: () => ['--help'] },
];

const master = await startMaster(sampleFixture(), { privilegedPorts: process.getuid?.() === 0 });

function neutral(text: string, work: string): string {
  return text
    .replaceAll(work, 'WORK')
    .replaceAll(master.address, 'MASTER')
    .replace(/\.ww[0-9a-f]{16}/g, '.wwTEMP')
    .replace(/\d+(\.\d+)? s\b/g, 'N s')
    .replace(/\d+(\.\d+)? ([KMG]i)?B\/s/g, 'N B/s');
}

function snapshot(dir: string): string[] {
  try {
    // The run records (issue 18) hold times and pids: never the same twice, so not compared.
    return withoutRunRecords(walkTree(dir)).map(({ rel, st, type, mode, link }) => {
      const data =
        type === 'file'
          ? createHash('sha256')
              .update(readFileSync(join(dir, rel)))
              .digest('hex')
              .slice(0, 16)
          : '';
      return `${rel} ${type} ${mode.toString(8)} ${st.uid}:${st.gid} ${type === 'file' ? st.size : ''} ${data} ${link ?? ''}`;
    });
  } catch {
    return ['(none)'];
  }
}

async function once(s: Scenario, dist: string, work: string): Promise<string> {
  const root = join(work, 'root');
  const sysroot = join(work, 'sysroot');
  mkdirSync(root, { recursive: true });
  mkdirSync(sysroot, { recursive: true });
  const env = { WWMASTER: master.address, WWINIT_HWADDR: HWADDR, NEWROOT: root, ...s.env };
  const r = await run(join(dist, s.tool), ['--sysroot', sysroot, ...s.args(work)], { env, timeoutMs: 120_000 });
  const tree = s.tree ? snapshot(join(work, s.tree)).join('\n') : '';
  return `exit ${r.code}\n--stdout\n${neutral(s.sorted ? r.stdout.split(/[\n,]/).sort().join('\n') : r.stdout, work)}\n--stderr\n${neutral(r.stderr, work)}\n--tree\n${tree}`;
}

let same = 0;
let differ = 0;
for (const s of scenarios) {
  const got: Record<string, string> = {};
  for (const [which, dist] of Object.entries(builds)) {
    const work = mkdtempSync(join(tmpdir(), `wwcompare-${which}-`));
    if (s.before) await once(s.before, dist, work);
    got[which] = neutral(await once(s, dist, work), work);
    rmSync(work, { recursive: true, force: true });
  }
  if (got.before === got.after) {
    same++;
    console.log(`same    ${s.name}`);
  } else {
    differ++;
    console.log(`DIFFERS ${s.name}\n--- before\n${got.before}\n--- after\n${got.after}`);
  }
}
await master.stop();
console.log(`${same} same, ${differ} differ`);
process.exit(differ === 0 ? 0 : 1);
