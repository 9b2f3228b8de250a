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
    // Paging older lines (see history.js). `first` is the checkpoint of the oldest line of the
    // contiguous all-resources range, `hasOlder` whether the server retains older ones; null
    // `first` means unknown (no paging). `prefix` is a run of one resource's older lines below
    // that range: {manifest, endId, first, hasOlder}. `epoch` changes on every reset.
    first: null,
    hasOlder: false,
    prefix: null,
    epoch: 0,
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
  store.first = null;
  store.hasOlder = false;
  store.prefix = null;
  store.epoch++;
}

/** The first id a view of `manifest` (null: all resources) may show: the prefix belongs to one resource. */
export function viewStart(store, manifest) {
  if (manifest === null && store.prefix) return Math.max(store.base, store.prefix.endId);
  return store.base;
}

/**
 * Puts older lines (a /api/logs page's logList: whole lines, oldest first) in front of the
 * retained ones; ids of existing lines do not change. Returns how many lines were added.
 */
export function prependLogList(store, logList) {
  const segments = logList?.segments || [];
  if (logList?.spans) for (const id of Object.keys(logList.spans)) spanFor(store, id, logList.spans);
  const text = [];
  const span = [];
  const level = [];
  for (const seg of segments) {
    const spanIdx = spanFor(store, seg.spanId || '', logList.spans);
    const lv = levelCode(seg.level);
    const parts = (seg.text || '').split('\n');
    if (parts[parts.length - 1] === '') parts.pop();
    for (const part of parts) {
      text.push(cleanLine(part));
      span.push(spanIdx);
      level.push(lv);
    }
  }
  if (!text.length) return 0;
  store.text = text.concat(store.text);
  store.span = span.concat(store.span);
  store.level = level.concat(store.level);
  store.base -= text.length;
  return text.length;
}

/** Drops the `n` oldest lines (ids of the others do not change). */
export function dropOldest(store, n) {
  if (n <= 0) return;
  store.text.splice(0, n);
  store.span.splice(0, n);
  store.level.splice(0, n);
  store.base += n;
  for (const [span, id] of store.open) if (id < store.base) store.open.delete(span);
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
  dropOldest(store, over);
  // The checkpoint of the new oldest line is unknown: older lines can no longer be paged in.
  store.first = null;
  store.hasOlder = false;
  if (store.prefix && store.prefix.endId <= store.base) store.prefix = null;
  if (store.prefix) store.prefix.hasOlder = false;
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
