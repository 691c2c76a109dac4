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
  const lines = text.split('\n').map((l) => l.replace(/\r$/, ''));
  for (let idx = 0; idx < lines.length; idx++) {
    const line = lines[idx].trimStart();
    if (line.trim() === '' || line.startsWith('#')) continue;
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
      continue;
    }
    const key = body.slice(0, eq);
    if (!NAME.test(key)) {
      rejected.push(idx + 1);
      continue;
    }
    // A quote left open goes on over the next lines, as a shell reads it (`A="one\ntwo"`);
    // if it is never closed, only this line is rejected and the next ones are read afresh.
    let word = body.slice(eq + 1);
    let value = parseShellWord(word);
    let last = idx;
    for (let j = idx + 1; value === null && j < lines.length && opensQuote(word); j++) {
      word += `\n${lines[j]}`;
      value = parseShellWord(word);
      last = j;
    }
    if (value === null) {
      rejected.push(idx + 1);
      continue;
    }
    idx = last;
    vars.set(key, value);
    if (isExport) exported.add(key);
  }
  return { vars, exported, rejected };
}

/** True when the word leaves a quote open at its end (so the value goes on on the next line). */
function opensQuote(word: string): boolean {
  let quote: '' | "'" | '"' = '';
  for (let i = 0; i < word.length; i++) {
    const c = word[i];
    if (quote === "'") {
      if (c === "'") quote = '';
    } else if (c === '\\') {
      i++;
    } else if (quote === '"') {
      if (c === '"') quote = '';
    } else if (c === "'" || c === '"') {
      quote = c;
    } else if (c === ' ' || c === '\t' || c === ';' || c === '#') {
      return false; // the word ended unquoted: what follows is not part of the value
    }
  }
  return quote !== '';
}

/** Quotes a value so that any POSIX shell reads it back byte for byte. */
export function shellQuote(value: string): string {
  if (/^[A-Za-z0-9_.,:/@%+=-]*$/.test(value) && value !== '') return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
