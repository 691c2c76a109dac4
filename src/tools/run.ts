// Process glue for the executables (src/bin/*): the only place that touches process.argv,
// process.env, the process's identity and the exit code, and the one error boundary: whatever a tool throws becomes
// one line on stderr and an exit status here. Standalone executables call runStandalone; the
// multi-call executable picks its tool from the name it was invoked by (process.argv0 keeps a
// symlink's name) or from its first argument.
import { basename } from 'node:path';
import { EXIT, WwError, describe } from '../core/errors.ts';
import { processIdentity } from '../core/identity.ts';
import { exitCleanlyOnSignals, interruption } from './signals.ts';
import type { Tool, ToolIO } from './tool.ts';
import { GuardedOutput } from './output.ts';
import { RunRecordGlue } from './record.ts';
import { versionLine } from '../version.ts';

export const MULTICALL_NAME = 'wwruntime';

// Guarded once for the whole process, before anything is written: a reader that goes
// away must never surface as an unhandled EPIPE (exit 1, the "locked" code).
const stdout = new GuardedOutput(process.stdout, 'product');
const stderr = new GuardedOutput(process.stderr, 'log');

function processIO(argv: string[]): ToolIO & { record: RunRecordGlue } {
  const identity = processIdentity();
  return { argv, env: process.env, stdout, stderr, identity, record: new RunRecordGlue(identity, process.pid) };
}

/** Exit 2 whenever stdout's reader left before everything was written (even --help), never 0 or 1. */
function finish(code: number): void {
  process.exitCode = stdout.closed && code === 0 ? 2 : code;
  // The failed write may be reported after the tool returned: settle the code again then.
  if (!stdout.closed) process.stdout.once('error', () => finish(code));
}

/** The one line for a failed run, and its exit status. A reader of stdout that went away is not reported. */
function failure(tool: Tool, err: unknown): { line: string | null; error: string; code: number } {
  const name = tool.name;
  const error = describe(err);
  if (err instanceof WwError && err.code === 'WW_OUTPUT_CLOSED') return { line: null, error, code: err.exitCode };
  // One line, whatever went wrong; a usage error says where the options are listed.
  const hint = err instanceof WwError && err.code === 'WW_USAGE' ? ` (see '${name} --help')` : '';
  const code = tool.failureExit ?? (err instanceof WwError ? err.exitCode : EXIT.FAILED);
  return { line: `${name}: ERROR: ${error}${hint}\n`, error, code };
}

/**
 * Runs a tool as this process. Node prints no warning itself (--no-warnings, build/build.mjs): each
 * is said here in one line on the log. A tool whose main never settles, because the event loop ran
 * empty under it, must not pass for success: exit 2, with a line saying so.
 */
function start(tool: Tool, argv: string[]): void {
  exitCleanlyOnSignals(tool.name, (l) => stderr.write(l)); // TERM/INT/HUP: temporaries and lock removed, exit 128+N
  let settled = false;
  process.on('warning', (w) => stderr.write(`${tool.name}: warning: ${w.name === 'Warning' ? '' : `${w.name}: `}${w.message}\n`));
  process.once('exit', () => {
    if (settled || interruption()) return; // a signal's exit (cleanup.ts) is not an unfinished run
    stderr.write(`${tool.name}: ERROR: the run stopped before it finished (nothing was left to wait for)\n`);
    process.exitCode = 2;
  });
  const io = processIO(argv);
  // The run's record ends with what this boundary decides: the exit status and the one-line error.
  const ended = (code: number, error: string | null) =>
    io.record.end(code, error).then(
      () => finish(code),
      (err) => {
        stderr.write(`${tool.name}: warning: the run record: ${describe(err)}\n`);
        finish(code);
      },
    );
  tool.main(io).then(
    (code) => {
      settled = true;
      return ended(code, null);
    },
    (err) => {
      settled = true;
      const { line, error, code } = failure(tool, err);
      if (line) stderr.write(line);
      return ended(code, error);
    },
  );
}

export function runStandalone(tool: Tool): void {
  start(tool, process.argv.slice(2));
}

/** A tool by its name, or by its name without the multi-call prefix (`wwruntime fleet` for wwruntime-fleet). */
function findTool(tools: Tool[], name: string | undefined): Tool | undefined {
  return tools.find((t) => t.name === name || t.name === `${MULTICALL_NAME}-${name}`);
}

export function multicallHelp(tools: Tool[]): string {
  const lines = tools.map((t) => `  ${t.name.replace(`${MULTICALL_NAME}-`, '').padEnd(16)} ${t.summary}`);
  return `Usage: ${MULTICALL_NAME} TOOL [options]   (or invoke through a symlink named after the tool)
Tools:
${lines.join('\n')}
Run '${MULTICALL_NAME} TOOL --help' for a tool's options, settings and exit codes.
Exit codes: 0 success, 1 locked, 2 failure or bad usage; 129, 130, 143 ended by SIGHUP, SIGINT, SIGTERM
(fleet: Nagios states 0-3, see 'wwruntime fleet --help').
`;
}

export function runMulticall(tools: Tool[]): void {
  const invoked = basename(process.argv0 || process.argv[1] || '');
  let tool = tools.find((t) => t.name === invoked); // a symlink: its exact name (wwruntime-fleet)
  let argv = process.argv.slice(2);
  if (!tool) {
    const [first, ...rest] = argv;
    if (first === '--version' || first === '-V') {
      stdout.write(`${versionLine(MULTICALL_NAME)}\n`);
      return finish(0);
    }
    tool = findTool(tools, first);
    if (!tool) {
      const help = first === undefined || first === '--help' || first === '-h';
      (help ? stdout : stderr).write(`${help ? '' : `${MULTICALL_NAME}: ERROR: unknown tool '${first}'\n`}${multicallHelp(tools)}`);
      return finish(help ? 0 : 2);
    }
    argv = rest;
  }
  start(tool, argv);
}
