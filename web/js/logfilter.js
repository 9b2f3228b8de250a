// Log filters (resource, source, level, text or /regex/) and the incrementally maintained list of matching line ids.

import { stripAnsi } from './ansi.js';
import { LEVEL_ERROR, LEVEL_WARN, endId, viewStart } from './logstore.js';

/** Parses a filter term: "/re/" is a case-insensitive regex, anything else a case-insensitive substring. */
export function parseTerm(term) {
  const t = (term || '').trim();
  if (!t) return { kind: 'none' };
  if (t.length >= 2 && t.startsWith('/') && t.endsWith('/')) {
    try {
      return { kind: 'regex', re: new RegExp(t.slice(1, -1), 'i') };
    } catch (e) {
      return { kind: 'text', text: t.toLowerCase(), error: String(e.message || e) };
    }
  }
  return { kind: 'text', text: t.toLowerCase() };
}

/** Normalises the URL-style options: source build|runtime, level warn|error, term. */
export function normalizeFilter({ manifest = null, source = '', level = '', term = '' } = {}) {
  return {
    manifest: manifest && manifest !== '(all)' ? manifest : null,
    source: source === 'build' || source === 'runtime' ? source : '',
    level: level === 'warn' || level === 'error' ? level : '',
    term: term || '',
  };
}

export function isTrivialFilter(f) {
  return !f.manifest && !f.source && !f.level && !f.term.trim();
}

/** A predicate over global line ids of `store` for filter `f` (already normalised). */
export function makeLinePredicate(store, f) {
  const term = parseTerm(f.term);
  const wantLevel = f.level === 'error' ? LEVEL_ERROR : f.level === 'warn' ? LEVEL_WARN : -1;
  return (id) => {
    // Another resource's older run (see history.js) is not part of the all-resources log.
    if (f.manifest === null && store.prefix && id < store.prefix.endId) return false;
    const i = id - store.base;
    const span = store.spans[store.span[i]];
    if (f.manifest !== null && span.manifest !== f.manifest) return false;
    if (f.source === 'build' && !span.build) return false;
    if (f.source === 'runtime' && span.build) return false;
    if (wantLevel >= 0 && store.level[i] !== wantLevel) return false;
    if (term.kind === 'text') return stripAnsi(store.text[i]).toLowerCase().includes(term.text);
    if (term.kind === 'regex') return term.re.test(stripAnsi(store.text[i]));
    return true;
  };
}

/**
 * The ordered ids of the lines that pass a filter. With no filter the list is implicit (every id
 * from store.base), so a million lines cost no extra array.
 */
export class LogView {
  constructor(store, filter) {
    this.store = store;
    this.setFilter(filter);
  }

  setFilter(filter) {
    this.filter = normalizeFilter(filter);
    this.trivial = isTrivialFilter(this.filter);
    this.pred = makeLinePredicate(this.store, this.filter);
    this.ids = [];
    this.next = this.start();
    this.low = this.next;
    this.sync();
  }

  start() {
    return viewStart(this.store, this.filter.manifest);
  }

  /** Takes in lines put in front of the store (history.js); returns how many rows were added. */
  prepended() {
    const start = this.start();
    if (this.trivial) {
      const added = Math.max(0, this.low - start);
      this.low = start;
      return added;
    }
    const fresh = [];
    for (let id = start; id < this.low; id++) if (this.pred(id)) fresh.push(id);
    this.low = start;
    if (fresh.length) this.ids = fresh.concat(this.ids);
    return fresh.length;
  }

  /** Catches up with lines appended (or trimmed) since the last call; `continued` lists grown lines. */
  sync(continued = []) {
    const store = this.store;
    if (this.trivial) {
      this.next = endId(store);
      this.low = Math.max(this.low, this.start());
      return;
    }
    const start = this.start();
    this.low = Math.max(this.low, start);
    if (this.ids.length && this.ids[0] < start) {
      this.ids.splice(0, lowerBound(this.ids, start));
    }
    if (this.next < start) this.next = start;
    // A partial line that grew may now match (or its level may have risen).
    for (const id of continued) {
      if (id >= store.base && id < this.next && this.pred(id)) insertSorted(this.ids, id);
    }
    const end = endId(store);
    for (let id = this.next; id < end; id++) if (this.pred(id)) this.ids.push(id);
    this.next = end;
  }

  get count() {
    return this.trivial ? endId(this.store) - this.start() : this.ids.length;
  }

  idAt(i) {
    return this.trivial ? this.start() + i : this.ids[i];
  }

  /** Row index of the first visible line with id >= `id`. */
  indexOfId(id) {
    if (this.trivial) return Math.max(0, id - this.start());
    return lowerBound(this.ids, id);
  }
}

export function lowerBound(arr, value) {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (arr[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function insertSorted(arr, value) {
  const at = lowerBound(arr, value);
  if (arr[at] !== value) arr.splice(at, 0, value);
}
