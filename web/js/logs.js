// The log pane: filter bar (source, level, text or /regex/), find box, follow mode, and virtualised rendering of the visible lines only.

import { ansiToHtml, escapeHtml, stripAnsi } from './ansi.js';
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
    this.render();
  }

  changeFilter(part) {
    this.applyFilter({ ...this.filter, ...part });
    this.app.setQuery({ source: this.filter.source, level: this.filter.level, term: this.filter.term });
    this.follow = true;
    this.hitRow = -1;
    this.render();
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
    if (ch.logsReset) this.view.setFilter(this.filter);
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
    setText(this.searchCount, n ? `${n.toLocaleString()} match${n === 1 ? '' : 'es'}` : 'no matches');
  }

  rowMatches(row) {
    const text = this.store.text[this.view.idAt(row) - this.store.base];
    return stripAnsi(text).toLowerCase().includes(this.needle);
  }

  /** Jumps to the next (dir 1) or previous (dir -1) matching line, wrapping around. */
  findNext(dir) {
    if (!this.needle) return;
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

  focusFilter() {
    this.termInput.focus();
    this.termInput.select();
  }
}
