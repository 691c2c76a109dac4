// Logging: every line goes to stderr so stdout stays clean for the data the tools
// print (scripts, node configuration) and for pipes such as `wwgetscript runtime | sh`.
export type Verbosity = 0 | 1 | 2; // 0 quiet (errors only), 1 normal, 2 verbose

export interface Logger {
  error(msg: string): void;
  warn(msg: string): void;
  info(msg: string): void;
  debug(msg: string): void;
}

export function createLogger(
  write: (line: string) => void = (l) => process.stderr.write(l),
  verbosity: Verbosity = 1,
  prefix = '',
): Logger {
  const out = (level: string, msg: string) => write(`${prefix}${level}${msg}\n`);
  return {
    error: (m) => out('ERROR: ', m),
    warn: (m) => verbosity >= 1 && out('WARNING: ', m),
    info: (m) => verbosity >= 1 && out('', m),
    debug: (m) => verbosity >= 2 && out('debug: ', m),
  } as Logger;
}

/** A logger that records lines, for tests. */
export function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const log = createLogger((l) => lines.push(l.trimEnd()), 2);
  return Object.assign(log, { lines });
}
