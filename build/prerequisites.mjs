#!/usr/bin/env node
// The one check of test/prerequisites.txt (the list .ci/install-deps and npm run setup install):
// the commands a step runs besides Node.js, found on the PATH (or at the absolute path given),
// and one line naming what is missing with the command that installs it. The words of a package
// line's trailing comment name the steps that need it besides the tests ("# build": the build and
// so the demo; "# package": npm run package); the tests need every line. The npm packages of
// package.json (npm ci) are checked too.
//   node build/prerequisites.mjs STEP...   (build, package, test) exit 0, or 2 with that one line on stderr
import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT } from './lib.mjs';

function executable(p) {
  try {
    accessSync(p, constants.X_OK);
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

export const STEPS = ['build', 'package', 'test'];

/**
 * The prerequisites of the steps `purposes` (of STEPS) that this machine lacks.
 * @param {{ purposes: string[], root?: string, path?: string }} opts
 * @returns {{ pkg: string, cmd: string }[]}
 */
export function missingPrerequisites({ purposes, root = ROOT, path = process.env.PATH ?? '' }) {
  const dirs = path.split(delimiter).filter(Boolean);
  const found = (cmd) => (isAbsolute(cmd) ? executable(cmd) : dirs.some((d) => executable(join(d, cmd))));
  const missing = [];
  for (const line of readFileSync(join(root, 'test/prerequisites.txt'), 'utf8').split('\n')) {
    const m = /^([^#]*)(?:#(.*))?$/.exec(line);
    const [pkg, ...cmds] = m[1].trim().split(/\s+/).filter(Boolean);
    if (!pkg) continue;
    const steps = (m[2] ?? '').trim().split(/\s+/);
    if (!purposes.includes('test') && !purposes.some((p) => steps.includes(p))) continue;
    for (const cmd of cmds) if (!found(cmd)) missing.push({ pkg, cmd });
  }
  return missing;
}

/** The devDependencies of package.json not installed in node_modules/ (npm ci not run yet). */
export function missingNodeModules(root = ROOT) {
  const deps = Object.keys(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).devDependencies ?? {});
  return deps.filter((d) => !existsSync(join(root, 'node_modules', d, 'package.json')));
}

/** The one line for what `missingPrerequisites` found (empty when nothing is missing). */
export function prerequisitesLine(purposes, missing) {
  if (missing.length === 0) return '';
  const pkgs = [...new Set(missing.map((m) => m.pkg))];
  return (
    `${purposes.join(' and ')} prerequisites missing: ${missing.map((m) => `${m.cmd} (package ${m.pkg})`).join(', ')}; ` +
    `install them with: apt-get install --no-install-recommends ${pkgs.join(' ')}  (as root; or everything: npm run setup)`
  );
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const purposes = process.argv.slice(2);
  if (purposes.length === 0 || !purposes.every((p) => STEPS.includes(p))) {
    process.stderr.write(`usage: node build/prerequisites.mjs STEP... (${STEPS.join(', ')})\n`);
    process.exit(2);
  }
  const line = prerequisitesLine(purposes, missingPrerequisites({ purposes }));
  if (line) {
    process.stderr.write(`${line}\n`);
    process.exit(2);
  }
  const modules = missingNodeModules();
  if (modules.length > 0) {
    process.stderr.write(`npm packages missing: ${modules.join(', ')}; install them with: npm ci  (or everything: npm run setup)\n`);
    process.exit(2);
  }
}
