// Reads and writes the POSIX-shell `KEY=value` / `export KEY` lines that
// /warewulf/config and the master's /WW/nodeconfig use. We parse the quoting,
// never evaluate: `$x` and backquotes stay literal text, so a hostile value
// cannot run anything.

export interface ShellVars {
  /** Keys in first-seen order; a later assignment to the same key wins. */
  vars: Map<string, string>;
  exported: Set<string>;
  /** Lines that were neither assignments, exports, comments nor blank (1-based numbers). */
  rejected: number[];
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Parses one shell word (quotes and backslashes), returning its value, or null when malformed. */
export function parseShellWord(text: string): string | null {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) return null;
      out += text.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      i++;
      let closed = false;
      while (i < text.length) {
        const d = text[i];
        if (d === '"') {
          closed = true;
          i++;
          break;
        }
        if (d === '\\' && i + 1 < text.length && '$`"\\\n'.includes(text[i + 1])) {
          if (text[i + 1] !== '\n') out += text[i + 1];
          i += 2;
          continue;
        }
        out += d;
        i++;
      }
      if (!closed) return null;
    } else if (c === '\\') {
      if (i + 1 >= text.length) return null;
      if (text[i + 1] !== '\n') out += text[i + 1];
      i += 2;
    } else if (c === ' ' || c === '\t') {
      // Unquoted white space ends the word; only a trailing comment may follow.
      const rest = text.slice(i).trimStart();
      if (rest === '' || rest.startsWith('#') || rest.startsWith(';')) return out;
      return null;
    } else if (c === ';') {
      return out;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

export function parseShellVars(text: string): ShellVars {
  const vars = new Map<string, string>();
  const exported = new Set<string>();
  const rejected: number[] = [];
  const lines = text.split('\n');
  lines.forEach((raw, idx) => {
    const line = raw.replace(/\r$/, '').trim();
    if (line === '' || line.startsWith('#')) return;
    let body = line;
    let isExport = false;
    const m = /^export\s+(.*)$/.exec(line);
    if (m) {
      isExport = true;
      body = m[1];
    }
    const eq = body.indexOf('=');
    if (eq < 0) {
      // `export A B C`
      const names = body.split(/\s+/).filter(Boolean);
      if (isExport && names.length > 0 && names.every((n) => NAME.test(n))) {
        names.forEach((n) => exported.add(n));
      } else {
        rejected.push(idx + 1);
      }
      return;
    }
    const key = body.slice(0, eq);
    const value = parseShellWord(body.slice(eq + 1));
    if (!NAME.test(key) || value === null) {
      rejected.push(idx + 1);
      return;
    }
    vars.set(key, value);
    if (isExport) exported.add(key);
  });
  return { vars, exported, rejected };
}

/** Quotes a value so that any POSIX shell reads it back byte for byte. */
export function shellQuote(value: string): string {
  if (/^[A-Za-z0-9_.,:/@%+=-]*$/.test(value) && value !== '') return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
