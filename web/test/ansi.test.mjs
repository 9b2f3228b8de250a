// Tests for the ANSI parser: SGR colours, bold, reset, and stripping of other escapes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ansiToHtml, parseAnsi, stripAnsi } from '../js/ansi.js';

test('plain text is one run', () => {
  assert.deepEqual(parseAnsi('hello'), [{ text: 'hello', fg: null, bold: false }]);
  assert.deepEqual(parseAnsi(''), []);
});

test('foreground colours 30-37 and bright 90-97, 39 resets colour', () => {
  assert.deepEqual(parseAnsi('\x1b[31mred\x1b[92mbright\x1b[39mplain'), [
    { text: 'red', fg: 1, bold: false },
    { text: 'bright', fg: 10, bold: false },
    { text: 'plain', fg: null, bold: false },
  ]);
});

test('bold, combined parameters and reset', () => {
  assert.deepEqual(parseAnsi('\x1b[1;33mwarn\x1b[0m ok \x1b[1mB\x1b[22mn\x1b[m.'), [
    { text: 'warn', fg: 3, bold: true },
    { text: ' ok ', fg: null, bold: false },
    { text: 'B', fg: null, bold: true },
    { text: 'n.', fg: null, bold: false },
  ]);
});

test('extended colour arguments are not read as codes', () => {
  // 38;5;31 must not turn into "31 = red".
  assert.deepEqual(parseAnsi('\x1b[38;5;31mx\x1b[48;2;1;2;3my'), [{ text: 'xy', fg: null, bold: false }]);
});

test('other escapes are stripped', () => {
  const line = '\x1b[2K\x1b[1Gdone\x1b]0;title\x07 \x1b]8;;http://x\x1b\\link\x1b[?25h\x1b(B!';
  assert.equal(stripAnsi(line), 'done link!');
  assert.deepEqual(parseAnsi(line), [{ text: 'done link!', fg: null, bold: false }]);
  assert.equal(stripAnsi('trailing\x1b'), 'trailing');
});

test('html output escapes text and marks search hits', () => {
  assert.equal(ansiToHtml('\x1b[31m<b>\x1b[0m&'), '<span class="a1">&lt;b&gt;</span>&amp;');
  assert.equal(ansiToHtml('Foo foo', 'foo'), '<mark>Foo</mark> <mark>foo</mark>');
});
