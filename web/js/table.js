// The resource table (home page): label groups, keyed rows updated in place, filter, show-disabled, selection.

import { renderDisableToggle, updateDisableToggle } from './buttons.js';
import { h, iconSvg, setAttr, setText, statusIcon, statusIconNode, toggleClass } from './dom.js';
import { clockTime, timeAgo, buildDurationMs, formatDuration } from './format.js';
import { groupResources, resourceLabels } from './groups.js';
import { disableToggleFor } from './state.js';
import {
  SUMMARY_KEYS, combinedStatus, isDisabled, isManual, lastBuild, resourceType, runtimeLine, summarize, updateLine,
} from './status.js';

const COLUMNS = ['', 'Resource', 'Type', 'Status', 'Updated', 'Endpoints', 'Mode', 'Enabled', 'Changes'];
// Fixed column widths let the browser lay out a 1,000-row table without measuring every cell.
const WIDTHS = ['52px', '24%', '76px', '26%', '110px', '18%', '96px', '80px', '76px'];

export function resourceHref(name) {
  return `r/${encodeURIComponent(name)}/overview`;
}

/** Status counts as nav/group chips: <span class="count" data-count="error">…</span>. */
export function summaryChips(counts) {
  const labels = { error: 'error', warning: 'warning', pending: 'pending', ok: 'ok', disabled: 'disabled' };
  const icons = { error: 'error', warning: 'warning', pending: 'pending', ok: 'ok', disabled: 'disabled' };
  return SUMMARY_KEYS.map((k) => {
    const chip = h('span.count', { 'data-count': k, 'data-n': counts[k], title: `${counts[k]} ${labels[k]}` });
    chip.innerHTML = `${statusIcon(icons[k])}<b>${counts[k]}</b> ${labels[k]}`;
    return chip;
  });
}

export class TableView {
  constructor(app) {
    this.app = app;
    this.rows = new Map(); // key "group\0name" -> row record
    this.groupEls = new Map(); // label -> {tbody, header, sum, keys}
    this.structKeys = new Map();
    this.dirty = new Set();
    this.structDirty = true;
    this.selectedKey = null;
    this.frame = 0;

    const prefs = app.prefs;
    this.filter = h('input#resource-filter', { type: 'search', placeholder: 'Filter resources by name  ( / )', 'aria-label': 'Filter resources by name', value: prefs.get('filter', '') });
    this.showDisabled = h('input#show-disabled', { type: 'checkbox' });
    this.showDisabled.checked = !!prefs.get('showDisabled', false);
    this.countNote = h('span.count-note#resource-count');
    this.filter.addEventListener('input', () => {
      prefs.set('filter', this.filter.value);
      this.invalidateStructure();
    });
    this.showDisabled.addEventListener('change', () => {
      prefs.set('showDisabled', this.showDisabled.checked);
      this.invalidateStructure();
    });
    this.table = h('table.resources#resource-table', {},
      h('colgroup', {}, ...WIDTHS.map((w) => h('col', { style: `width:${w}` }))),
      h('thead', {}, h('tr', {}, ...COLUMNS.map((c) => h('th', {}, c)))));
    this.empty = h('div.empty#resource-empty', {}, 'Loading resources…');
    this.el = h('div.table-view#table-view', {},
      h('div.toolbar', {}, this.filter, h('label', {}, this.showDisabled, 'Show disabled resources'), this.countNote),
      this.table, this.empty);
    this.table.addEventListener('click', (ev) => this.onClick(ev));
  }

  invalidateStructure() {
    this.structDirty = true;
    this.schedule();
  }

  /** Takes the change set from applyView. */
  update(ch) {
    const state = this.app.state;
    if (ch.complete || ch.removed.size) this.structDirty = true;
    for (const name of ch.resources) {
      this.dirty.add(name);
      const res = state.resources.get(name);
      const key = structKey(res);
      if (this.structKeys.get(name) !== key) {
        this.structKeys.set(name, key);
        this.structDirty = true;
      }
    }
    for (const name of ch.removed) this.structKeys.delete(name);
    // A toggle button changing affects its resource's switch.
    for (const b of [...ch.buttons, ...ch.buttonsRemoved]) {
      const target = state.buttons.get(b)?.spec?.location?.componentID || b.replace(/-disable$/, '');
      if (state.resources.has(target)) this.dirty.add(target);
    }
    if (this.dirty.size || this.structDirty) this.schedule();
  }

  schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => this.render());
  }

  render() {
    this.frame = 0;
    const state = this.app.state;
    if (this.structDirty) {
      this.structDirty = false;
      this.rebuildStructure();
    }
    const touchedGroups = new Set();
    for (const name of this.dirty) {
      const res = state.resources.get(name);
      if (!res) continue;
      for (const row of this.rowsFor(name)) {
        this.updateRow(row, res);
        touchedGroups.add(row.group);
      }
    }
    this.dirty.clear();
    for (const label of touchedGroups) this.updateGroupSummary(label);
  }

  rowsFor(name) {
    const out = [];
    for (const label of this.groupEls.keys()) {
      const row = this.rows.get(label + '\0' + name);
      if (row) out.push(row);
    }
    return out;
  }

  rebuildStructure() {
    const state = this.app.state;
    const groups = groupResources(state.resources.values(), { filter: this.filter.value, showDisabled: this.showDisabled.checked });
    const collapsed = new Set(this.app.prefs.get('collapsed', []));
    const wanted = new Set();
    const tbodies = [];
    let shown = 0;
    for (const { label, names } of groups) {
      let g = this.groupEls.get(label);
      if (!g) {
        g = this.createGroup(label);
        this.groupEls.set(label, g);
      }
      toggleClass(g.tbody, 'collapsed', collapsed.has(label));
      const rowEls = [g.header];
      for (const name of names) {
        const key = label + '\0' + name;
        wanted.add(key);
        let row = this.rows.get(key);
        if (!row) {
          row = this.createRow(label, name);
          this.rows.set(key, row);
          this.updateRow(row, state.resources.get(name));
        }
        rowEls.push(row.tr);
      }
      shown += names.length;
      const keys = names.join('\0');
      if (g.keys !== keys) {
        g.keys = keys;
        g.names = names;
        g.tbody.replaceChildren(...rowEls);
      }
      tbodies.push(g.tbody);
      this.updateGroupSummary(label);
    }
    for (const [key, row] of this.rows) if (!wanted.has(key)) { row.tr.remove(); this.rows.delete(key); }
    for (const [label, g] of this.groupEls) if (!groups.some((x) => x.label === label)) { g.tbody.remove(); this.groupEls.delete(label); }
    const current = [...this.table.tBodies];
    if (current.length !== tbodies.length || current.some((t, i) => t !== tbodies[i])) {
      for (const t of current) t.remove();
      this.table.append(...tbodies);
    }
    const total = state.resources.size;
    this.empty.hidden = groups.length > 0;
    this.table.hidden = groups.length === 0;
    setText(this.empty, !state.loaded ? 'Loading resources…' : total ? 'No resources match the filter.' : 'No resources yet.');
    const unique = new Set(groups.flatMap((g) => g.names)).size;
    setText(this.countNote, state.loaded ? `${unique} of ${total} resources` : '');
    if (this.selectedKey && !this.rows.has(this.selectedKey)) this.selectedKey = null;
  }

  createGroup(label) {
    const sum = h('span.gsum');
    const header = h('tr.group-header', { 'data-action': 'toggle-group', 'data-group': label },
      h('td', { colspan: COLUMNS.length, html: `<span class="chev">${iconSvg('chevron')}</span>` }));
    header.firstChild.append(h('span.gname', {}, label), sum);
    const tbody = h('tbody', { 'data-group': label }, header);
    return { tbody, header, sum, keys: '', names: [] };
  }

  updateGroupSummary(label) {
    const g = this.groupEls.get(label);
    if (!g) return;
    const state = this.app.state;
    const counts = summarize(g.names.map((n) => state.resources.get(n)).filter(Boolean));
    const sig = SUMMARY_KEYS.map((k) => counts[k]).join(',') + '/' + counts.total;
    if (g.sumSig === sig) return;
    g.sumSig = sig;
    const parts = [h('span', {}, `${counts.total} resource${counts.total === 1 ? '' : 's'}`)];
    for (const k of SUMMARY_KEYS) {
      if (!counts[k]) continue;
      const s = h('span', { 'data-count': k });
      s.innerHTML = `${statusIcon(k)} ${counts[k]} ${k}`;
      parts.push(s);
    }
    g.sum.replaceChildren(...parts);
  }

  createRow(group, name) {
    const trigger = h('button.trigger', { type: 'button', 'data-action': 'trigger', title: 'Trigger update (r)', 'aria-label': `Trigger update of ${name}`, html: iconSvg('trigger') });
    const statusIconEl = h('span.sicon');
    const link = h('a.res-name', { href: resourceHref(name), 'data-link': '' }, statusIconEl, h('span', {}, name));
    const type = h('span.type');
    const upIcon = h('span.sicon');
    const upText = h('span.t');
    const rtIcon = h('span.sicon');
    const rtText = h('span.t');
    const upLine = h('div.st-line.update', {}, upIcon, upText);
    const rtLine = h('div.st-line.runtime', {}, rtIcon, rtText);
    const statusCell = h('td.status-cell', {}, upLine, rtLine);
    const ago = h('span.ago');
    const dur = h('span.dur');
    const updated = h('td.updated', {}, ago, h('br'), dur);
    const endpoints = h('td.endpoints');
    const mode = h('button.mode-toggle', { type: 'button', 'data-action': 'trigger-mode' });
    const toggle = renderDisableToggle(undefined, true, this.app.toast);
    const pending = h('span.pending-mark', { title: 'Pending changes: not yet applied', 'data-pending': '' });
    const tr = h('tr.res-row', { 'data-resource': name, 'data-group': group },
      h('td', {}, trigger), h('td', {}, link), h('td', {}, type), statusCell, updated, endpoints,
      h('td', {}, mode), h('td', {}, toggle), h('td', {}, pending));
    return { key: group + '\0' + name, name, group, tr, trigger, statusIconEl, type, upLine, upIcon, upText, rtLine, rtIcon, rtText, statusCell, ago, dur, endpoints, mode, toggle, pending, sig: {} };
  }

  updateRow(row, res) {
    if (!res) return;
    const s = res.status || {};
    const disabled = isDisabled(res);
    const combined = combinedStatus(res);
    toggleClass(row.tr, 'is-disabled', disabled);
    setIcon(row, 'statusIconEl', combined);
    setText(row.type, resourceType(res));
    setAttr(row.statusCell, 'data-status', combined);

    const up = updateLine(res);
    setAttr(row.upLine, 'data-status', up.status);
    setIcon(row, 'upIcon', up.status);
    setText(row.upText, up.text);
    setAttr(row.upLine, 'title', up.title || null);
    const rt = runtimeLine(res);
    setAttr(row.rtLine, 'data-status', rt.status);
    setIcon(row, 'rtIcon', rt.status);
    setText(row.rtText, rt.text);
    row.rtLine.hidden = !rt.text;
    setAttr(row.rtLine, 'title', rt.title || null);

    row.lastDeploy = s.lastDeployTime || lastBuild(res)?.finishTime || '';
    this.updateTime(row);
    const d = buildDurationMs(lastBuild(res));
    setText(row.dur, Number.isFinite(d) ? `took ${formatDuration(d)}` : '');
    setAttr(row.ago, 'title', row.lastDeploy ? clockTime(row.lastDeploy) : null);

    const links = s.endpointLinks || [];
    const linkSig = JSON.stringify(links);
    if (row.sig.links !== linkSig) {
      row.sig.links = linkSig;
      row.endpoints.replaceChildren(...links.map((l, i) => h('a', { href: l.url, target: '_blank', rel: 'noopener noreferrer', 'data-endpoint': i + 1, title: l.url }, l.name || l.url.replace(/^https?:\/\//, ''))));
    }

    const manual = isManual(res);
    setText(row.mode, manual ? 'Manual' : 'Auto');
    setAttr(row.mode, 'aria-pressed', manual ? 'false' : 'true');
    setAttr(row.mode, 'data-mode', manual ? 'manual' : 'auto');
    setAttr(row.mode, 'title', manual ? 'Manual: updates only when triggered. Click for auto.' : 'Auto: updates on file changes. Click for manual.');

    const pendingChanges = !!s.hasPendingChanges;
    row.pending.hidden = !pendingChanges;
    toggleClass(row.trigger, 'emphasis', manual && pendingChanges && !disabled);
    const busy = s.updateStatus === 'in_progress' || !!s.queued;
    toggleClass(row.trigger, 'busy', s.updateStatus === 'in_progress');
    row.trigger.disabled = disabled || busy;
    setAttr(row.trigger, 'title', disabled ? 'Resource is disabled' : busy ? 'Update in progress or queued' : manual && pendingChanges ? 'Pending changes: trigger update (r)' : 'Trigger update (r)');

    const toggleBtn = disableToggleFor(this.app.state, res.metadata.name);
    updateDisableToggle(row.toggle, toggleBtn, !disabled);
  }

  updateTime(row) {
    setText(row.ago, row.lastDeploy ? timeAgo(row.lastDeploy) : '—');
  }

  /** Refreshes the relative times ("3m ago"); called every few seconds. */
  tick() {
    for (const row of this.rows.values()) this.updateTime(row);
  }

  onClick(ev) {
    const target = ev.target.closest('[data-action]');
    const tr = ev.target.closest('tr.res-row');
    if (tr) this.select(tr.dataset.group + '\0' + tr.dataset.resource);
    if (!target) return;
    const action = target.dataset.action;
    if (action === 'toggle-group') {
      const label = target.dataset.group;
      const collapsed = new Set(this.app.prefs.get('collapsed', []));
      if (collapsed.has(label)) collapsed.delete(label);
      else collapsed.add(label);
      this.app.prefs.set('collapsed', [...collapsed]);
      toggleClass(this.groupEls.get(label).tbody, 'collapsed', collapsed.has(label));
    } else if (action === 'trigger' && tr) {
      this.app.trigger(tr.dataset.resource);
    } else if (action === 'trigger-mode' && tr) {
      this.app.toggleTriggerMode(tr.dataset.resource);
    }
  }

  visibleKeys() {
    const keys = [];
    for (const tbody of this.table.tBodies) {
      if (tbody.classList.contains('collapsed')) continue;
      for (const tr of tbody.rows) if (tr.dataset.resource) keys.push(tr.dataset.group + '\0' + tr.dataset.resource);
    }
    return keys;
  }

  select(key) {
    if (this.selectedKey === key) return;
    const prev = this.rows.get(this.selectedKey);
    if (prev) prev.tr.classList.remove('selected');
    this.selectedKey = key;
    const row = this.rows.get(key);
    if (row) {
      row.tr.classList.add('selected');
      row.tr.scrollIntoView({ block: 'nearest' });
    }
  }

  moveSelection(delta) {
    const keys = this.visibleKeys();
    if (!keys.length) return;
    const at = keys.indexOf(this.selectedKey);
    const next = at < 0 ? (delta > 0 ? 0 : keys.length - 1) : Math.min(keys.length - 1, Math.max(0, at + delta));
    this.select(keys[next]);
  }

  selectedName() {
    return this.rows.get(this.selectedKey)?.name || null;
  }

  focusFilter() {
    this.filter.focus();
    this.filter.select();
  }
}

function setIcon(row, field, status) {
  const key = field + 'Status';
  if (row.sig[key] === status) return;
  row.sig[key] = status;
  row[field].replaceChildren(statusIconNode(status));
}

function structKey(res) {
  if (!res) return '';
  return [resourceLabels(res).join(','), res.status?.order ?? 0, isDisabled(res) ? 1 : 0].join('|');
}
