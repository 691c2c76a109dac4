import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseShellVars, parseShellWord, shellQuote } from '../../src/core/shellvars.ts';
import { execFileSync } from 'node:child_process';

test('quoting styles as /warewulf/config and the master write them', () => {
  const { vars, exported, rejected } = parseShellVars(
    [
      'A=plain', 'export A', 'B="double quoted"', "C='single $quoted'", 'D=', 'export E=x y', 'F="esc \\"q\\" \\$x \\\\"',
      "G='it'\\''s'", '# comment', '', 'export H I', 'H=1 # trailing comment', 'not a line', '1BAD=x', "J='unterminated",
    ].join('\n'),
  );
  assert.is(vars.get('A'), 'plain');
  assert.is(vars.get('B'), 'double quoted');
  assert.is(vars.get('C'), 'single $quoted');
  assert.is(vars.get('D'), '');
  assert.is(vars.get('F'), 'esc "q" $x \\');
  assert.is(vars.get('G'), "it's");
  assert.is(vars.get('H'), '1');
  assert.not.ok(vars.has('E'));
  assert.ok(exported.has('A') && exported.has('H') && exported.has('I'));
  assert.equal(rejected, [6, 13, 14, 15]);
});

test('CRLF line endings are tolerated', () => {
  assert.is(parseShellVars('A="x"\r\nexport A\r\n').vars.get('A'), 'x');
});

test('shellQuote round-trips through a real shell', () => {
  const values = ['simple', 'with space', "quote'single", 'dq"x', '$HOME `id` $(id)', '', 'a\nb', 'tab\there', '\\back'];
  for (const v of values) {
    const out = execFileSync('sh', ['-c', `X=${shellQuote(v)}; printf %s "$X"`], { encoding: 'utf8' });
    assert.is(out, v);
    assert.is(parseShellWord(shellQuote(v)), v);
  }
});

test.run();
