// The node a test plays: its hwaddr, the environment a tool runs with on it, running a BUILT tool
// (under env -i, see exec.ts) and checking how it ended.
import * as assert from 'uvu/assert';
import { bin, run, type RunOptions, type RunResult } from './exec.ts';

/** The hwaddr of the sample fixture's node n0000 (master/fixtures.ts sampleFixture). */
export const HWADDR = '00:11:22:33:44:55';

/**
 * The environment of a tool run on the node: WWMASTER (the master's 'host:port'), WWINIT_HWADDR,
 * then `extra` (which may replace either).
 */
export function nodeEnv(master: { address: string }, extra: Record<string, string> = {}, hwaddr = HWADDR): Record<string, string> {
  return { WWMASTER: master.address, WWINIT_HWADDR: hwaddr, ...extra };
}

/** Runs the built executable dist/linux-x64/NAME (timeout, stdout/stderr/code/signal captured: exec.ts run()). */
export function runTool(name: string, args: string[] = [], opts: RunOptions = {}): Promise<RunResult> {
  return run(bin(name), args, opts);
}

/** Asserts the run exited with `code` (not by a signal); the message carries its stderr. Returns the result. */
export function expectExit(r: RunResult, code: number, what = ''): RunResult {
  assert.is(r.signal, null, `${what ? `${what}: ` : ''}ended by ${r.signal}\n${r.stderr}`);
  assert.is(r.code, code, `${what ? `${what}: ` : ''}${r.stderr}`);
  return r;
}
