// ANSI escape handling for log lines: SGR colours/bold become styled runs, every other escape is stripped.

// ESC followed by: a CSI sequence, an OSC sequence (ended by BEL or ST), a charset/nF sequence, or a single character.
const ESCAPE_RE = /\x1b(?:\[([0-?]*)[ -\/]*([@-~])|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[ -\/]+[0-~]|[@-Z\\-_]|$)/g;

/**
 * Splits a line into runs of text with colour state.
 * fg is null (default) or 0..15 (8..15 are the bright colours); bold is a boolean.
 */
export function parseAnsi(line) {
  const runs = [];
  if (line.indexOf('\x1b') < 0) {
    if (line) runs.push({ text: line, fg: null, bold: false });
    return runs;
  }
  let fg = null;
  let bold = false;
  let last = 0;
  ESCAPE_RE.lastIndex = 0;
  let m;
  while ((m = ESCAPE_RE.exec(line)) !== null) {
    if (m.index > last) pushRun(runs, line.slice(last, m.index), fg, bold);
    last = ESCAPE_RE.lastIndex;
    if (m[0].length === 0) {
      // A zero-length match at the end ("\x1b" alone); step past to avoid looping.
      ESCAPE_RE.lastIndex++;
      continue;
    }
    if (m[2] === 'm') {
      const state = applySgr(m[1], fg, bold);
      fg = state.fg;
      bold = state.bold;
    }
  }
  if (last < line.length) pushRun(runs, line.slice(last), fg, bold);
  return runs;
}

function pushRun(runs, text, fg, bold) {
  const prev = runs[runs.length - 1];
  if (prev && prev.fg === fg && prev.bold === bold) prev.text += text;
  else runs.push({ text, fg, bold });
}

function applySgr(params, fg, bold) {
  // Private-mode parameters ("?", "<" ...) are not SGR colours.
  if (/[<-?]/.test(params)) return { fg, bold };
  const codes = params === '' ? [0] : params.split(/[;:]/).map((p) => (p === '' ? 0 : Number(p)));
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i];
    if (c === 0) {
      fg = null;
      bold = false;
    } else if (c === 1) bold = true;
    else if (c === 22) bold = false;
    else if (c >= 30 && c <= 37) fg = c - 30;
    else if (c >= 90 && c <= 97) fg = c - 90 + 8;
    else if (c === 39) fg = null;
    else if (c === 38 || c === 48 || c === 58) {
      // Extended colours carry their own arguments; skip them so they are not read as codes.
      if (codes[i + 1] === 5) i += 2;
      else if (codes[i + 1] === 2) i += 4;
    }
  }
  return { fg, bold };
}

/** The visible text of a line, with every escape sequence removed. */
export function stripAnsi(line) {
  if (line.indexOf('\x1b') < 0) return line;
  return line.replace(ESCAPE_RE, '');
}

const HTML_ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(s) {
  return s.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);
}

/**
 * HTML for one line: runs become <span class="aN b">; `mark` (a lowercase needle) wraps matches
 * of the visible text in <mark>.
 */
export function ansiToHtml(line, mark) {
  let html = '';
  for (const run of parseAnsi(line)) {
    const cls = [];
    if (run.fg !== null) cls.push('a' + run.fg);
    if (run.bold) cls.push('b');
    const body = mark ? markHtml(run.text, mark) : escapeHtml(run.text);
    html += cls.length ? `<span class="${cls.join(' ')}">${body}</span>` : body;
  }
  return html;
}

function markHtml(text, needle) {
  const lower = text.toLowerCase();
  let out = '';
  let from = 0;
  for (;;) {
    const at = lower.indexOf(needle, from);
    if (at < 0) break;
    out += escapeHtml(text.slice(from, at)) + '<mark>' + escapeHtml(text.slice(at, at + needle.length)) + '</mark>';
    from = at + needle.length;
  }
  return out + escapeHtml(text.slice(from));
}
