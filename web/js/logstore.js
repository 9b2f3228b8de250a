// Retained log lines as parallel arrays (no DOM): appends View log segments by checkpoint, joins partial lines, trims the oldest.

export const LEVEL_INFO = 0;
export const LEVEL_WARN = 1;
export const LEVEL_ERROR = 2;

export const DEFAULT_MAX_LINES = 1_000_000;

/** Span ids Tilt counts as build logs; everything else is runtime output. */
export function isBuildSpanId(spanId) {
  return spanId.startsWith('build:') || spanId.startsWith('cmdimage:') || spanId.startsWith('tiltfile:');
}

function levelCode(level) {
  if (level === 'ERROR') return LEVEL_ERROR;
  if (level === 'WARN') return LEVEL_WARN;
  return LEVEL_INFO;
}

export function createLogStore(maxLines = DEFAULT_MAX_LINES) {
  return {
    maxLines,
    // Global id of text[0]; ids stay stable when old lines are trimmed.
    base: 0,
    text: [],
    span: [],
    level: [],
    // Span table: index -> {id, manifest, build}.
    spans: [],
    spanIndex: new Map(),
    // Span index -> global id of its last line while that line has no newline yet.
    open: new Map(),
    checkpoint: 0,
  };
}

/** One past the last global id. */
export function endId(store) {
  return store.base + store.text.length;
}

export function resetLogStore(store) {
  store.base = 0;
  store.text = [];
  store.span = [];
  store.level = [];
  store.spans = [];
  store.spanIndex = new Map();
  store.open = new Map();
  store.checkpoint = 0;
}

function spanFor(store, spanId, spansInfo) {
  let idx = store.spanIndex.get(spanId);
  const manifest = spansInfo?.[spanId]?.manifestName;
  if (idx === undefined) {
    idx = store.spans.length;
    store.spans.push({ id: spanId, manifest: manifest ?? '', build: isBuildSpanId(spanId) });
    store.spanIndex.set(spanId, idx);
  } else if (manifest !== undefined && store.spans[idx].manifest !== manifest) {
    store.spans[idx].manifest = manifest;
  }
  return idx;
}

/**
 * Applies a View's logList. Segments before our checkpoint are skipped (already seen).
 * Returns {first: first new global id, continued: ids of earlier lines that grew, trimmed}.
 */
export function appendLogList(store, logList) {
  const result = { first: endId(store), continued: [], trimmed: 0 };
  if (!logList) return result;
  // Register spans even when no segment uses them yet, so manifests are known.
  if (logList.spans) for (const id of Object.keys(logList.spans)) spanFor(store, id, logList.spans);
  const segments = logList.segments || [];
  const from = typeof logList.fromCheckpoint === 'number' ? logList.fromCheckpoint : -1;
  const to = typeof logList.toCheckpoint === 'number' ? logList.toCheckpoint : -1;
  let skip = 0;
  if (from >= 0 && from < store.checkpoint) skip = Math.min(segments.length, store.checkpoint - from);
  for (let i = skip; i < segments.length; i++) appendSegment(store, segments[i], logList.spans, result);
  if (to >= 0) store.checkpoint = Math.max(store.checkpoint, to);
  else if (from < 0 && segments.length > 0) store.checkpoint += segments.length - skip;
  result.trimmed = trimLogStore(store);
  return result;
}

function appendSegment(store, seg, spansInfo, result) {
  const text = seg.text || '';
  if (!text) return;
  const spanIdx = spanFor(store, seg.spanId || '', spansInfo);
  const level = levelCode(seg.level);
  const parts = text.split('\n');
  // A trailing "\n" yields a final empty part: the segment ended its last line.
  const endsLine = parts[parts.length - 1] === '';
  if (endsLine) parts.pop();
  let start = 0;
  let lastId = -1;
  const openId = store.open.get(spanIdx);
  if (openId !== undefined && openId >= store.base) {
    const i = openId - store.base;
    store.text[i] = cleanLine(store.text[i] + parts[0]);
    if (level > store.level[i]) store.level[i] = level;
    if (openId < result.first) result.continued.push(openId);
    lastId = openId;
    start = 1;
  }
  store.open.delete(spanIdx);
  for (let p = start; p < parts.length; p++) {
    store.text.push(cleanLine(parts[p]));
    store.span.push(spanIdx);
    store.level.push(level);
    lastId = endId(store) - 1;
  }
  if (!endsLine && lastId >= 0) store.open.set(spanIdx, lastId);
}

// A carriage return redraws the line in a terminal; keep what would be visible last.
function cleanLine(s) {
  if (s.indexOf('\r') < 0) return s;
  const trimmed = s.replace(/\r+$/, '');
  const cut = trimmed.lastIndexOf('\r');
  return cut < 0 ? trimmed : trimmed.slice(cut + 1);
}

/** Drops the oldest lines once the store is 10% over its limit; returns how many went. */
export function trimLogStore(store) {
  const over = store.text.length - store.maxLines;
  if (over <= 0 || over < Math.max(1, Math.floor(store.maxLines / 10))) return 0;
  store.text.splice(0, over);
  store.span.splice(0, over);
  store.level.splice(0, over);
  store.base += over;
  for (const [span, id] of store.open) if (id < store.base) store.open.delete(span);
  return over;
}

export function lineText(store, id) {
  return store.text[id - store.base];
}
export function lineLevel(store, id) {
  return store.level[id - store.base];
}
export function lineSpan(store, id) {
  return store.spans[store.span[id - store.base]];
}
