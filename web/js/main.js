// Dashboard entry point: owns the state, routes between the table and resource views, and wires the stream, nav and actions.

import { cancelTiltfileLoad, connectView, setTriggerMode, triggerResource } from './api.js';
import { renderButton } from './buttons.js';
import { escapeHtml } from './ansi.js';
import { h } from './dom.js';
import { installKeys } from './keys.js';
import { ALL, ResourceView, errorLocation } from './resource.js';
import { applyView, buttonsAt, createState } from './state.js';
import { TILTFILE, summarize, toggledTriggerMode } from './status.js';
import { TableView, resourceHref, summaryChips } from './table.js';

/** Preferences in localStorage, keyed per Tiltfile like Tilt does, so two projects do not mix. */
class Prefs {
  constructor() {
    this.scope = 'default';
    this.cache = new Map();
  }
  key(k) {
    return `lilt-${JSON.stringify({ tiltfileKey: this.scope, key: k })}`;
  }
  get(k, fallback) {
    try {
      const v = localStorage.getItem(this.key(k));
      return v === null ? fallback : JSON.parse(v);
    } catch {
      return fallback;
    }
  }
  set(k, v) {
    try {
      localStorage.setItem(this.key(k), JSON.stringify(v));
    } catch {
      // Storage can be full or disabled; preferences are a convenience only.
    }
  }
}

class App {
  constructor() {
    this.state = createState();
    this.prefs = new Prefs();
    this.toast = (msg, kind) => this.showToast(msg, kind);
    this.root = document.getElementById('app');
    this.table = new TableView(this);
    this.table.isTable = true;
    this.resource = new ResourceView(this);
    this.resource.isTable = false;
    this.view = null;
    this.summaryEl = document.getElementById('status-summary');
    this.globalButtons = document.getElementById('global-buttons');
    this.banner = document.getElementById('banner');
    this.socketBar = document.getElementById('socket-bar');
    this.summaryFrame = 0;

    document.addEventListener('click', (ev) => this.onLinkClick(ev));
    window.addEventListener('popstate', () => this.route());
    document.getElementById('help-button').addEventListener('click', () => this.openHelp());
    installKeys(this);
    setInterval(() => this.view?.tick(), 10000);
    this.route();
    connectView({ onView: (v) => this.onView(v), onStatus: (s, mode) => this.onStatus(s, mode) });
  }

  currentView() {
    return this.view;
  }

  onView(view) {
    const t0 = performance.now();
    const ch = applyView(this.state, view);
    const applyMs = performance.now() - t0;
    if (ch.session) {
      const key = this.state.session?.status?.tiltfileKey;
      if (key && key !== this.prefs.scope) this.prefs.scope = key;
    }
    // Both views track state; only the visible one touches the DOM now, the other catches up when shown.
    if (this.view === this.table) this.table.update(ch);
    else this.table.pending = mergePending(this.table.pending, ch);
    this.resource.update(ch);
    if (!this.summaryFrame) this.summaryFrame = requestAnimationFrame(() => this.renderChrome());
    // Timings for tests and the dev harness: how long applying the View took, and when it was on screen.
    const root = document.documentElement.dataset;
    root.lines = String(this.state.logs.text.length);
    root.resources = String(this.state.resources.size);
    if (ch.complete) {
      root.completeApplyMs = applyMs.toFixed(1);
      requestAnimationFrame(() => {
        const now = performance.now();
        root.completeRenderedMs = (now - t0).toFixed(1);
        // Milliseconds since navigation start: what a user waits for the first screen.
        root.completeRenderedAt = now.toFixed(1);
      });
    }
  }

  onStatus(state, mode) {
    const bar = this.socketBar;
    bar.dataset.state = state;
    bar.dataset.transport = mode;
    bar.textContent =
      state === 'connected'
        ? `Connected (${mode})`
        : state === 'unauthorized'
          ? 'Not authorised: this browser has no valid session token. Open the URL that `lilt up` printed (it ends in ?token=…).'
          : state === 'reconnecting'
            ? 'Connection lost — reconnecting…'
            : 'Connecting to lilt…';
  }

  /** Nav summary, global buttons and the error banner. */
  renderChrome() {
    this.summaryFrame = 0;
    const counts = summarize(this.state.resources.values());
    const sig = JSON.stringify(counts);
    if (sig !== this.summarySig) {
      this.summarySig = sig;
      this.summaryEl.replaceChildren(...summaryChips(counts));
    }
    const buttons = buttonsAt(this.state, null);
    const bsig = JSON.stringify(buttons.map((b) => [b.metadata.name, b.spec, b.status?.disabledReason]));
    if (bsig !== this.buttonSig) {
      this.buttonSig = bsig;
      this.globalButtons.replaceChildren(...buttons.map((b) => renderButton(b, this.toast)));
    }
    const fatal = this.state.session?.status?.fatalError;
    const tf = this.state.resources.get(TILTFILE);
    const hist = tf?.status?.buildHistory || [];
    const tfError = tf && tf.status?.updateStatus === 'error' ? hist.reduce((a, b) => ((b.finishTime || '') > (a?.finishTime || '') ? b : a), null)?.error : '';
    let html = '';
    if (fatal) html = `<strong>Fatal error:</strong> ${escapeHtml(fatal)}`;
    else if (tfError) html = `<strong>Tiltfile error</strong> at <code>${escapeHtml(errorLocation(tfError) || 'Tiltfile')}</code>: ${escapeHtml(tfError.split('\n').filter(Boolean).pop() || '')} — <a href="${resourceHref(TILTFILE)}" data-link>details</a>`;
    if (html !== this.bannerHtml) {
      this.bannerHtml = html;
      this.banner.innerHTML = html;
      this.banner.hidden = !html;
    }
  }

  route() {
    const path = location.pathname;
    const m = /\/r\/([^/]+)\/overview\/?$/.exec(path);
    const query = new URLSearchParams(location.search);
    let next;
    if (m) {
      next = this.resource;
      this.resource.show(safeDecode(m[1]), query);
      document.title = `${safeDecode(m[1]) === ALL ? 'All logs' : safeDecode(m[1])} · lilt`;
    } else {
      next = this.table;
      document.title = 'lilt';
    }
    if (next !== this.view) {
      this.view = next;
      this.root.replaceChildren(next.el);
      if (next === this.table) {
        this.table.update(this.table.pending || fullChange(this.state));
        this.table.pending = null;
        this.table.invalidateStructure();
      } else {
        this.resource.logs.render();
      }
    }
    for (const a of document.querySelectorAll('[data-nav]')) {
      a.classList.toggle('active', (a.dataset.nav === 'table' && next === this.table) || (a.dataset.nav === 'all' && next === this.resource && this.resource.name === ALL));
    }
  }

  navigate(href) {
    const url = new URL(href, document.baseURI);
    if (url.href === location.href) return;
    history.pushState(null, '', url);
    this.route();
  }

  open(name) {
    this.navigate(resourceHref(name));
  }

  /** Writes the log filters into the URL (source, level, term) without a history entry. */
  setQuery(params) {
    const url = new URL(location.href);
    for (const [k, v] of Object.entries(params)) {
      if (v) url.searchParams.set(k, v);
      else url.searchParams.delete(k);
    }
    history.replaceState(null, '', url);
  }

  onLinkClick(ev) {
    const a = ev.target.closest('a[data-link]');
    if (!a || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
    ev.preventDefault();
    this.navigate(a.getAttribute('href'));
  }

  async trigger(name) {
    try {
      const msg = await triggerResource(name);
      this.toast(msg || `Triggered ${name}`);
    } catch (e) {
      this.toast(`Trigger ${name}: ${e.message}`, 'error');
    }
  }

  async cancelLoad() {
    try {
      await cancelTiltfileLoad();
      this.toast('Cancelling the Tiltfile load');
    } catch (e) {
      this.toast(`Cancel the Tiltfile load: ${e.message}`, 'error');
    }
  }

  async toggleTriggerMode(name) {
    const res = this.state.resources.get(name);
    if (!res) return;
    const mode = toggledTriggerMode(res.status?.triggerMode ?? 0);
    try {
      await setTriggerMode(name, mode);
    } catch (e) {
      this.toast(`Trigger mode of ${name}: ${e.message}`, 'error');
    }
  }

  openEndpoint(name, n) {
    const link = this.state.resources.get(name)?.status?.endpointLinks?.[n - 1];
    if (link) window.open(link.url, '_blank', 'noopener,noreferrer');
  }

  openHelp() {
    const d = document.getElementById('help-dialog');
    if (!d.open) d.showModal();
  }

  showToast(msg, kind = 'info') {
    const el = document.getElementById('toast');
    el.textContent = msg;
    el.dataset.kind = kind;
    el.hidden = false;
    clearTimeout(this.toastTimer);
    this.toastTimer = setTimeout(() => (el.hidden = true), kind === 'error' ? 6000 : 2500);
  }
}

function safeDecode(s) {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

// Change sets collected while the table is hidden, merged so it can catch up in one pass.
function mergePending(acc, ch) {
  if (!acc) acc = { complete: false, removed: new Set(), resources: new Set(), buttons: new Set(), buttonsRemoved: new Set() };
  acc.complete ||= ch.complete;
  for (const k of ['removed', 'resources', 'buttons', 'buttonsRemoved']) for (const n of ch[k]) acc[k].add(n);
  return acc;
}

function fullChange(state) {
  return { complete: true, removed: new Set(), resources: new Set(state.resources.keys()), buttons: new Set(), buttonsRemoved: new Set() };
}

window.lilt = new App();
