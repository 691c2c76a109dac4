// What a tool is, what the process hands it (tools/run.ts builds that), and the first steps
// every tool's main takes: --help/--version, the log from -q/-v, the settings under --sysroot.
import { join } from 'node:path';
import type { Identity } from '../core/identity.ts';
import { createLogger, type Logger, type Verbosity } from '../core/log.ts';
import { loadSettings, type Settings } from '../core/settings/sources.ts';
import { versionLine } from '../version.ts';
import type { CommonValues } from './options.ts';
import type { Output } from './output.ts';
import type { RunRecordIO } from './record.ts';

export interface ToolIO {
  argv: string[];
  env: Record<string, string | undefined>;
  /** The product (scripts, node configuration, --help); see output.ts for a closed one. */
  stdout: Output;
  /** The log. */
  stderr: Output;
  /** Who the run is, read once for the whole run (core/identity.ts). */
  identity: Identity;
  /** The run's record (tools/record.ts); absent when a test calls a tool's main directly. */
  record?: RunRecordIO;
}

export interface Tool {
  name: string;
  summary: string;
  /** The exit status of a failed run (default: the error's, 2 for most); wwruntime-fleet: 3, a Nagios UNKNOWN. */
  failureExit?: number;
  main(io: ToolIO): Promise<number>;
}

/** Prints --help / --version when asked; returns true when it did. */
export function handleInfo(io: ToolIO, values: { help?: boolean; version?: boolean }, name: string, help: string): boolean {
  if (values.help) {
    io.stdout.write(help.endsWith('\n') ? help : `${help}\n`);
    return true;
  }
  if (values.version) {
    io.stdout.write(`${versionLine(name)}\n`);
    return true;
  }
  return false;
}

export function makeLogger(io: ToolIO, values: CommonValues, name: string): Logger {
  const verbosity: Verbosity = values.quiet ? 0 : values.verbose ? 2 : 1;
  return createLogger((l) => io.stderr.write(l), verbosity, `${name}: `);
}

export function settingsFor(io: ToolIO, values: CommonValues): Settings {
  const root = values.sysroot ?? '/';
  return loadSettings({
    env: io.env,
    configPath: join(root, 'warewulf/config'),
    networkConfPath: join(root, 'etc/network.conf'),
    cmdlinePath: join(root, 'proc/cmdline'),
  });
}
