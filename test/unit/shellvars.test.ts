import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseShellVars, parseShellWord, shellQuote } from '../../src/core/settings/shellvars.ts';
import { execFileSync } from 'node:child_process';

test('quoting styles as /warewulf/config and the master write them', () => {
  const { vars, exported, rejected } = parseShellVars(
    [
      'A=plain',
      'export A',
      'B="double quoted"',
      "C='single $quoted'",
      'D=',
      'export E=x y',
      'F="esc \\"q\\" \\$x \\\\"',
      "G='it'\\''s'",
      '# comment',
      '',
      'export H I',
      'H=1 # trailing comment',
      'not a line',
      '1BAD=x',
      "J='unterminated",
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

test('a quoted value spanning lines is one assignment, as a shell reads it', () => {
  const text = [
    'A="first',
    '  indented  ',
    'last"',
    'export A',
    "B='one",
    "two'",
    'C="x\\',
    'y"  # comment',
    'D=after',
    'E="never closed',
    'F=ok',
  ].join('\n');
  const { vars, exported, rejected } = parseShellVars(text);
  assert.is(vars.get('A'), 'first\n  indented  \nlast');
  assert.ok(exported.has('A'));
  assert.is(vars.get('B'), 'one\ntwo');
  assert.is(vars.get('C'), 'xy'); // backslash-newline inside double quotes is a line continuation
  assert.is(vars.get('D'), 'after');
  // An unclosed quote swallows nothing: its line alone is rejected, the rest still read.
  assert.not.ok(vars.has('E'));
  assert.is(vars.get('F'), 'ok');
  assert.equal(rejected, [10]);
  // What a real shell makes of the same text.
  const sh = execFileSync('sh', ['-c', `${text.split('\n').slice(0, 9).join('\n')}\nprintf '%s|%s|%s' "$A" "$B" "$C"`], {
    encoding: 'utf8',
  });
  assert.is(sh, `${vars.get('A')}|${vars.get('B')}|${vars.get('C')}`);
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
