// The log pane: filter bar (source, level, text or /regex/), find box, follow mode, and virtualised rendering of the visible lines only.

import { ansiToHtml, escapeHtml, stripAnsi } from './ansi.js';
import { fetchLogPage, searchLogs } from './api.js';
import { hasMore, loadOlder } from './history.js';
import { h, setText } from './dom.js';
import { LogView, parseTerm } from './logfilter.js';
import { LEVEL_ERROR, LEVEL_WARN } from './logstore.js';
import { computeWindow, scrollTopForRow } from './vwindow.js';

const ROW_HEIGHT = 18; // Keep in step with --row-h in app.css.
const LEVEL_NAMES = ['info', 'warn', 'error'];

function segmented(name, options, onPick) {
  const el = h('div.seg', { role: 'group', 'aria-label': name });
  for (const [value, label] of options) {
    const b = h('button', { type: 'button', [`data-filter-${name}`]: value, 'aria-pressed': 'false' }, label);
    b.addEventListener('click', () => onPick(value));
    el.append(b);
  }
  return el;
}

function setPressed(group, attr, value) {
  for (const b of group.querySelectorAll('button')) b.setAttribute('aria-pressed', String(b.getAttribute(attr) === value));
}

export class LogPane {
  constructor(app) {
    this.app = app;
    this.store = app.state.logs;
    this.manifest = null;
    this.filter = { manifest: null, source: '', level: '', term: '' };
    this.view = new LogView(this.store, this.filter);
    this.follow = true;
    this.frame = 0;
    this.hitRow = -1;
    this.needle = '';
    this.autoTop = -1;

    this.sourceSeg = segmented('source', [['', 'All sources'], ['build', 'Build'], ['runtime', 'Runtime']], (v) => this.changeFilter({ source: v }));
    this.levelSeg = segmented('level', [['', 'All levels'], ['warn', 'Warnings'], ['error', 'Errors']], (v) => this.changeFilter({ level: v }));
    this.termInput = h('input#log-filter', { type: 'search', placeholder: 'Filter: text or /regex/  ( / )', 'aria-label': 'Filter log lines' });
    this.termNote = h('span.note#log-filter-note');
    let termTimer = 0;
    this.termInput.addEventListener('input', () => {
      clearTimeout(termTimer);
      termTimer = setTimeout(() => this.changeFilter({ term: this.termInput.value }), 150);
    });
    this.searchInput = h('input#log-search', { type: 'search', placeholder: 'Find  (Enter, Shift+Enter)', 'aria-label': 'Find in logs' });
    this.searchCount = h('span.note#log-search-count');
    let searchTimer = 0;
    this.searchInput.addEventListener('input', () => {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(() => this.setNeedle(this.searchInput.value), 200);
    });
    this.searchInput.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter') {
        ev.preventDefault();
        this.setNeedle(this.searchInput.value);
        this.findNext(ev.shiftKey ? -1 : 1);
      }
    });
    this.loading = false;
    this.autoLoads = 0;
    this.serverTotal = null;
    this.lineCount = h('span.note#log-count');
    this.toolbar = h('div.log-toolbar', {}, this.sourceSeg, this.levelSeg, this.termInput, this.termNote, this.searchInput, this.searchCount, h('span', { style: 'flex:1' }), this.lineCount);

    this.rowsEl = h('div.log-rows');
    this.spacer = h('div.log-spacer', {}, this.rowsEl);
    this.scroller = h('div#log', { tabindex: '0', role: 'log', 'aria-label': 'Log lines' }, this.spacer);
    this.followBtn = h('button.btn.follow#log-follow', { type: 'button', title: 'Scroll to the newest line and follow' }, 'Follow ↓');
    this.followBtn.addEventListener('click', () => {
      this.follow = true;
      this.render();
    });
    this.wrap = h('div.log-wrap', {}, this.scroller, this.followBtn);
    this.scroller.addEventListener('scroll', () => this.onScroll(), { passive: true });
    new ResizeObserver(() => this.schedule()).observe(this.scroller);
    this.el = h('div.log-pane', { style: 'display:contents' }, this.toolbar, this.wrap);
  }

  /** Shows the logs of `manifest` (null or "(all)" for all) with filters from the URL query. */
  show(manifest, query) {
    this.manifest = manifest && manifest !== '(all)' ? manifest : null;
    const f = { manifest: this.manifest, source: query.get('source') || '', level: query.get('level') || '', term: query.get('term') || '' };
    this.termInput.value = f.term;
    this.hitRow = -1;
    this.applyFilter(f);
    this.follow = true;
    this.autoLoads = 0;
    this.render();
    this.maybeLoadOlder();
  }

  changeFilter(part) {
    this.applyFilter({ ...this.filter, ...part });
    this.app.setQuery({ source: this.filter.source, level: this.filter.level, term: this.filter.term });
    this.follow = true;
    this.hitRow = -1;
    this.autoLoads = 0;
    this.render();
    this.maybeLoadOlder();
  }

  applyFilter(f) {
    this.view.setFilter(f);
    this.filter = this.view.filter;
    setPressed(this.sourceSeg, 'data-filter-source', this.filter.source);
    setPressed(this.levelSeg, 'data-filter-level', this.filter.level);
    const term = parseTerm(this.filter.term);
    setText(this.termNote, term.error ? `invalid regex: ${term.error}` : term.kind === 'regex' ? 'regex' : '');
    this.termNote.classList.toggle('err', !!term.error);
    this.updateSearchCount();
  }

  /** Called with applyView's change set. */
  onLogs(ch) {
    const grew = ch.logsReset || ch.logs.continued.length || ch.logs.trimmed || ch.logs.first < this.store.base + this.store.text.length;
    if (!grew) return;
    if (ch.logsReset) {
      this.view.setFilter(this.filter);
      this.autoLoads = 0;
    }
    else this.view.sync(ch.logs.continued);
    if (this.needle) this.updateSearchCountSoon();
    this.schedule();
  }

  schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => this.render());
  }

  onScroll() {
    // Follow mode is "the view is at the bottom". Our own scroll to the bottom can be reported after
    // more lines arrived, so a scroll event landing where we put it keeps following.
    const el = this.scroller;
    if (!(this.follow && Math.abs(el.scrollTop - this.autoTop) < 2)) {
      this.follow = el.scrollTop + el.clientHeight >= el.scrollHeight - 4;
    }
    this.schedule();
    if (el.scrollTop < (el.clientHeight || 600) * 2) this.maybeLoadOlder(true);
  }

  /**
   * Pages in older lines from the server when the view is scrolled near its top (`byUser`), or
   * when it does not fill the screen (a few times per filter, so a rare match does not page
   * through the whole log by itself).
   */
  async maybeLoadOlder(byUser = false) {
    if (this.loading || !this.el.isConnected || !hasMore(this.store, this.manifest)) {
      this.markOlder();
      return;
    }
    const rows = (this.scroller.clientHeight || 600) / ROW_HEIGHT;
    if (!byUser) {
      if (this.view.count > rows * 2 || this.autoLoads >= 3) return;
      this.autoLoads++;
    }
    this.loading = true;
    this.markOlder();
    const before = this.view.count;
    const top = computeWindow({ count: before, rowHeight: ROW_HEIGHT, viewportHeight: this.scroller.clientHeight || 600, scrollTop: this.scroller.scrollTop }).topRow;
    let added = 0;
    try {
      const n = await loadOlder(this.store, this.manifest, fetchLogPage);
      if (n) added = this.view.prepended();
    } catch (e) {
      this.app.toast(`Loading older lines: ${e.message}`, 'error');
    } finally {
      this.loading = false;
    }
    // New rows are all above the old ones: keep the same lines on screen.
    if (added && !this.follow) {
      this.scroller.scrollTop = scrollTopForRow({ row: top + added, count: this.view.count, rowHeight: ROW_HEIGHT, viewportHeight: this.scroller.clientHeight || 600 });
      this.autoTop = this.scroller.scrollTop;
    }
    if (this.hitRow >= 0) this.hitRow += added;
    this.render();
    this.markOlder();
    if (this.needle) this.updateSearchCount();
    if (!byUser) this.maybeLoadOlder();
  }

  /** `#log[data-older]`: "loading", "more" (scroll up for older lines) or "none". */
  markOlder() {
    this.scroller.dataset.older = this.loading ? 'loading' : hasMore(this.store, this.manifest) ? 'more' : 'none';
  }

  render() {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    if (!this.el.isConnected) return;
    const count = this.view.count;
    const el = this.scroller;
    const viewportHeight = el.clientHeight || 600;
    let w = computeWindow({ count, rowHeight: ROW_HEIGHT, viewportHeight, scrollTop: el.scrollTop });
    const height = `${w.totalHeight}px`;
    if (this.spacer.style.height !== height) this.spacer.style.height = height;
    if (this.follow) {
      const bottom = Math.max(0, w.totalHeight - viewportHeight);
      if (Math.abs(el.scrollTop - bottom) > 1) el.scrollTop = bottom;
      this.autoTop = el.scrollTop;
      w = computeWindow({ count, rowHeight: ROW_HEIGHT, viewportHeight, scrollTop: bottom });
    }
    this.followBtn.hidden = this.follow || count === 0;
    setText(this.lineCount, `${count.toLocaleString()} line${count === 1 ? '' : 's'}`);
    if (count === 0) {
      this.rowsEl.style.transform = '';
      this.rowsEl.innerHTML = `<div class="log-empty">${this.store.text.length ? 'No log lines match the filters.' : 'No logs yet.'}</div>`;
      return;
    }
    const showSource = this.manifest === null;
    const store = this.store;
    let html = '';
    for (let row = w.start; row < w.end; row++) {
      const id = this.view.idAt(row);
      const i = id - store.base;
      const level = store.level[i];
      let attrs = `class="ll${row === this.hitRow ? ' hit' : ''}" data-line="${id}"`;
      if (level === LEVEL_WARN || level === LEVEL_ERROR) attrs += ` data-level="${LEVEL_NAMES[level]}"`;
      let prefix = '';
      if (showSource) {
        const m = store.spans[store.span[i]].manifest;
        prefix = `<span class="src" title="${escapeHtml(m)}">${escapeHtml(m)}</span>`;
      }
      html += `<div ${attrs}>${prefix}${ansiToHtml(store.text[i], this.needle)}</div>`;
    }
    this.rowsEl.style.transform = `translateY(${w.offset}px)`;
    this.rowsEl.innerHTML = html;
  }

  setNeedle(text) {
    const needle = text.trim().toLowerCase();
    if (needle === this.needle) return;
    this.needle = needle;
    this.hitRow = -1;
    this.updateSearchCount();
    this.render();
  }

  updateSearchCountSoon() {
    clearTimeout(this.countTimer);
    this.countTimer = setTimeout(() => this.updateSearchCount(), 500);
  }

  updateSearchCount() {
    if (!this.needle) {
      setText(this.searchCount, '');
      return;
    }
    let n = 0;
    const count = this.view.count;
    for (let row = 0; row < count; row++) if (this.rowMatches(row)) n++;
    this.matchTotal = n;
    let msg = n ? `${n.toLocaleString()} match${n === 1 ? '' : 'es'}` : 'no matches';
    const older = this.olderMatches();
    if (older > 0) msg += ` (+${older.toLocaleString()} in older lines: Shift+Enter)`;
    setText(this.searchCount, msg);
    this.searchCount.dataset.older = String(Math.max(0, older));
    if (hasMore(this.store, this.manifest)) this.querySearch();
  }

  /** How many matches the server has beyond the loaded lines (0 when unknown or none). */
  olderMatches() {
    const s = this.serverTotal;
    if (!s || s.needle !== this.needle || s.manifest !== this.manifest) return 0;
    return Math.max(0, s.total - this.matchTotal);
  }

  /** Asks the server how many retained lines match, when not all of them are loaded. */
  async querySearch() {
    const needle = this.needle;
    const manifest = this.manifest;
    const s = this.serverTotal;
    if (s && s.needle === needle && s.manifest === manifest && s.checkpoint === this.store.checkpoint) return;
    const checkpoint = this.store.checkpoint;
    this.serverTotal = { needle, manifest, checkpoint, total: s?.needle === needle && s?.manifest === manifest ? s.total : 0 };
    try {
      const r = await searchLogs(needle, manifest, 1);
      if (this.needle !== needle || this.manifest !== manifest) return;
      this.serverTotal = { needle, manifest, checkpoint, total: r.total };
      this.updateSearchCount();
    } catch {
      // Older lines stay unsearched; the loaded ones are still counted.
    }
  }

  rowMatches(row) {
    const text = this.store.text[this.view.idAt(row) - this.store.base];
    return stripAnsi(text).toLowerCase().includes(this.needle);
  }

  /** Jumps to the next (dir 1) or previous (dir -1) matching line, wrapping around. */
  async findNext(dir) {
    if (!this.needle) return;
    if (dir < 0 && this.olderMatches() > 0 && !this.loadedMatchBefore(this.hitRow)) {
      // The previous match is older than the loaded lines: page back until it is loaded.
      this.follow = false;
      for (let pages = 0; pages < 40 && hasMore(this.store, this.manifest) && !this.loadedMatchBefore(this.hitRow); pages++) {
        await this.maybeLoadOlder(true);
      }
    }
    const count = this.view.count;
    if (!count) return;
    const viewportHeight = this.scroller.clientHeight || 600;
    let from = this.hitRow;
    if (from < 0) from = Math.floor(computeWindow({ count, rowHeight: ROW_HEIGHT, viewportHeight, scrollTop: this.scroller.scrollTop }).topRow) - (dir > 0 ? 1 : -1);
    for (let step = 1; step <= count; step++) {
      const row = (((from + dir * step) % count) + count) % count;
      if (this.rowMatches(row)) {
        this.hitRow = row;
        this.follow = false;
        const rows = viewportHeight / ROW_HEIGHT;
        this.scroller.scrollTop = scrollTopForRow({ row: Math.max(0, row - Math.floor(rows / 2)), count, rowHeight: ROW_HEIGHT, viewportHeight });
        this.render();
        return;
      }
    }
  }

  /** Whether a loaded line above row `row` (-1: the top of the screen) matches the find box. */
  loadedMatchBefore(row) {
    let from = row;
    if (from < 0) from = Math.floor(computeWindow({ count: this.view.count, rowHeight: ROW_HEIGHT, viewportHeight: this.scroller.clientHeight || 600, scrollTop: this.scroller.scrollTop }).topRow);
    for (let r = from - 1; r >= 0; r--) if (this.rowMatches(r)) return true;
    return false;
  }

  focusFilter() {
    this.termInput.focus();
    this.termInput.select();
  }
}
