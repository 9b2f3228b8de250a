// The resource view (/r/<name>/overview): sidebar, header with actions and custom buttons, Tiltfile error, build history, log pane.

import { renderButton, renderDisableToggle, updateDisableToggle } from './buttons.js';
import { escapeHtml } from './ansi.js';
import { h, iconSvg, setAttr, setText, statusIcon, toggleClass } from './dom.js';
import { buildDurationMs, clockTime, formatDuration, timeAgo } from './format.js';
import { matchesNameFilter, orderResources } from './groups.js';
import { LogPane } from './logs.js';
import { buttonsAt, disableToggleFor } from './state.js';
import { TILTFILE, buildImages, combinedStatus, liveUpdateSummary, isDisabled, isManual, resourceType, runtimeLine, updateLine } from './status.js';

export { errorLocation } from './status.js';
import { resourceHref } from './table.js';

export const ALL = '(all)';

export class ResourceView {
  constructor(app) {
    this.app = app;
    this.name = null;
    this.frame = 0;
    this.sidebarItems = new Map();
    this.sidebarOrder = '';
    this.selected = null;

    this.sbFilter = h('input.sb-filter#sidebar-filter', { type: 'search', placeholder: 'Filter resources', 'aria-label': 'Filter the resource list' });
    this.sbFilter.addEventListener('input', () => this.renderSidebar(true));
    this.allItem = h('li.sb-all', { 'data-resource': ALL }, h('a', { href: resourceHref(ALL), 'data-link': '' }, 'All resources'));
    this.sbList = h('ul#sidebar-list');
    this.sidebar = h('aside.sidebar#sidebar', {}, this.sbFilter, this.sbList);

    this.title = h('h1#resource-title');
    this.typeBadge = h('span.badge#resource-type');
    this.titleIcon = h('span');
    this.statusBox = h('div.rv-status#resource-status');
    this.endpoints = h('div.endpoints#resource-endpoints');
    this.buttonBar = h('div.button-bar#resource-buttons');
    this.modeBtn = h('button.mode-toggle', { type: 'button', 'data-action': 'trigger-mode' });
    this.modeBtn.addEventListener('click', () => this.name && this.app.toggleTriggerMode(this.name));
    this.toggle = renderDisableToggle(undefined, true, app.toast);
    this.toggleLabel = h('label', {}, this.toggle, h('span', {}, 'Enabled'));
    this.triggerBtn = h('button.btn#resource-trigger', { type: 'button', 'data-action': 'trigger', html: iconSvg('trigger') }, 'Trigger update');
    this.triggerBtn.addEventListener('click', () => this.name && this.app.trigger(this.name));
    // Only on (Tiltfile) while it evaluates: ends a load stuck in a local() that never ends.
    this.cancelBtn = h('button.btn#resource-cancel-load', { type: 'button', 'data-action': 'cancel-load', hidden: true }, 'Cancel load');
    this.cancelBtn.addEventListener('click', () => this.app.cancelLoad());
    this.actions = h('div.rv-actions', {}, this.endpoints, h('span.sep'), this.buttonBar, this.modeBtn, this.toggleLabel, this.cancelBtn, this.triggerBtn);
    this.head = h('div.rv-head', {}, h('div.rv-title', {}, this.titleIcon, this.title, this.typeBadge), this.statusBox, this.actions);

    this.tiltfileError = h('div.tiltfile-error#tiltfile-error', { hidden: true });
    this.history = h('details.history#build-history', { open: true });
    this.logs = new LogPane(app);
    this.main = h('section.rv-main', {}, this.head, this.tiltfileError, this.history, this.logs.el);
    this.el = h('div.resource-view#resource-view', {}, this.sidebar, this.main);
  }

  show(name, query) {
    const changed = name !== this.name;
    this.name = name;
    if (changed) this.selected = name;
    this.renderSidebar(true);
    this.renderHead();
    this.logs.show(name, query);
  }

  update(ch) {
    this.logs.onLogs(ch);
    // While hidden, show() re-renders everything; only the log index needs to keep up.
    if (!this.el.isConnected) return;
    const structural = ch.complete || ch.removed.size || ch.resources.size;
    if (structural) this.sidebarDirty = true;
    if (this.name === ALL || ch.resources.has(this.name) || ch.buttons.size || ch.buttonsRemoved.size || ch.complete) this.headDirty = true;
    if (!this.frame && (this.sidebarDirty || this.headDirty)) {
      this.frame = requestAnimationFrame(() => {
        this.frame = 0;
        if (this.sidebarDirty) this.renderSidebar(false);
        if (this.headDirty) this.renderHead();
      });
    }
  }

  renderSidebar(force) {
    this.sidebarDirty = false;
    const state = this.app.state;
    const names = orderResources(state.resources.values()).filter((n) => matchesNameFilter(n, this.sbFilter.value));
    const order = names.join('\0');
    for (const name of names) {
      let item = this.sidebarItems.get(name);
      if (!item) {
        const iconEl = h('span.sicon');
        const pend = h('span.pending-mark', { title: 'Pending changes', 'data-pending': '' });
        const a = h('a', { href: resourceHref(name), 'data-link': '' }, iconEl, h('span.n', {}, name), pend);
        item = { li: h('li', { 'data-resource': name }, a), iconEl, pend, status: '' };
        this.sidebarItems.set(name, item);
      }
      const res = state.resources.get(name);
      const st = combinedStatus(res);
      if (item.status !== st) {
        item.status = st;
        item.iconEl.innerHTML = statusIcon(st);
        setAttr(item.li, 'data-status', st);
      }
      item.pend.hidden = !res.status?.hasPendingChanges;
      toggleClass(item.li, 'is-disabled', isDisabled(res));
      toggleClass(item.li, 'current', name === this.name);
      toggleClass(item.li, 'selected', name === this.selected && name !== this.name);
    }
    toggleClass(this.allItem, 'current', this.name === ALL);
    for (const [name, item] of this.sidebarItems) if (!state.resources.has(name)) { item.li.remove(); this.sidebarItems.delete(name); }
    if (force || order !== this.sidebarOrder) {
      this.sidebarOrder = order;
      this.sbList.replaceChildren(this.allItem, ...names.map((n) => this.sidebarItems.get(n).li));
    }
  }

  renderHead() {
    this.headDirty = false;
    const state = this.app.state;
    const name = this.name;
    const res = state.resources.get(name);
    const isAll = name === ALL;
    setText(this.title, isAll ? 'All resources' : name);
    this.actions.hidden = isAll || !res;
    this.typeBadge.hidden = isAll || !res;
    this.history.hidden = isAll || !res;
    if (isAll || !res) {
      this.titleIcon.innerHTML = '';
      this.statusBox.replaceChildren(isAll ? '' : h('span', {}, state.loaded ? `No resource named "${name}".` : 'Loading…'));
      this.tiltfileError.hidden = true;
      return;
    }
    const st = combinedStatus(res);
    this.titleIcon.innerHTML = statusIcon(st);
    setText(this.typeBadge, resourceType(res));
    const up = updateLine(res);
    const rt = runtimeLine(res);
    const lines = [h('span.st-line.update', { 'data-status': up.status, title: up.title || '', html: statusIcon(up.status) }, h('span.t', {}, up.text))];
    if (rt.text) lines.push(h('span.st-line.runtime', { 'data-status': rt.status, title: rt.title || '', html: statusIcon(rt.status) }, h('span.t', {}, rt.text)));
    const last = res.status?.lastDeployTime;
    if (last) lines.push(h('span.st-line', { title: clockTime(last) }, `Last update ${timeAgo(last)}`));
    if (res.status?.hasPendingChanges) lines.push(h('span.st-line', {}, h('span.pending-mark'), ' Pending changes'));
    const pid = res.status?.localResourceInfo?.pid;
    if (pid) lines.push(h('span.st-line', {}, `PID ${pid}`));
    const pod = res.status?.k8sResourceInfo?.podName;
    if (pod) lines.push(h('span.st-line', {}, `Pod ${pod}`));
    this.statusBox.replaceChildren(...lines);
    this.statusBox.setAttribute('data-status', st);

    const links = res.status?.endpointLinks || [];
    this.endpoints.replaceChildren(...links.map((l, i) => h('a', { href: l.url, target: '_blank', rel: 'noopener noreferrer', 'data-endpoint': i + 1, html: iconSvg('link') }, ' ' + (l.name || l.url))));

    const manual = isManual(res);
    setText(this.modeBtn, manual ? 'Manual' : 'Auto');
    setAttr(this.modeBtn, 'aria-pressed', manual ? 'false' : 'true');
    setAttr(this.modeBtn, 'data-mode', manual ? 'manual' : 'auto');
    const disabled = isDisabled(res);
    const toggleBtn = disableToggleFor(state, name);
    updateDisableToggle(this.toggle, toggleBtn, !disabled);
    this.toggleLabel.hidden = !toggleBtn;
    const busy = res.status?.updateStatus === 'in_progress' || !!res.status?.queued;
    this.triggerBtn.disabled = disabled || busy;
    this.cancelBtn.hidden = !(name === TILTFILE && res.status?.updateStatus === 'in_progress');
    toggleClass(this.triggerBtn, 'primary', manual && !!res.status?.hasPendingChanges && !disabled);

    const buttons = buttonsAt(state, name);
    const sig = JSON.stringify(buttons.map((b) => [b.metadata.name, b.spec, b.status?.disabledReason]));
    if (sig !== this.buttonSig) {
      this.buttonSig = sig;
      this.buttonBar.replaceChildren(...buttons.map((b) => renderButton(b, this.app.toast)));
    }

    this.renderTiltfileError(res);
    this.renderHistory(res);
  }

  renderTiltfileError(res) {
    const hist = res.status?.buildHistory || [];
    const latest = hist.reduce((best, b) => (!best || (b.finishTime || '') > (best.finishTime || '') ? b : best), null);
    const err = res.metadata.name === TILTFILE && res.status?.updateStatus !== 'in_progress' ? latest?.error : '';
    this.tiltfileError.hidden = !err;
    if (!err) return;
    const where = errorLocation(err);
    this.tiltfileError.innerHTML = `<div><span class="where" id="tiltfile-error-location">${escapeHtml(where || 'Tiltfile')}</span> — the Tiltfile failed to load</div><pre id="tiltfile-error-text">${escapeHtml(err)}</pre>`;
  }

  renderHistory(res) {
    const s = res.status || {};
    const items = [];
    if (s.currentBuild?.startTime && Date.parse(s.currentBuild.startTime) > 0) {
      items.push(h('li', { 'data-build': 'current', html: statusIcon('building') }, h('span', {}, 'Updating…'), h('span.when', {}, `started ${clockTime(s.currentBuild.startTime)}`)));
    }
    for (const [i, b] of (s.buildHistory || []).slice(0, 3).entries()) {
      const ok = !b.error;
      const warn = b.warnings?.length || 0;
      const live = liveUpdateSummary(b);
      const what = live ? 'Live update' : 'Update';
      const li = h('li', { 'data-build': i, 'data-status': ok ? 'ok' : 'error', html: statusIcon(ok ? (warn ? 'warning' : 'ok') : 'error') },
        h('span', {}, `${what} ${ok ? 'succeeded' : 'failed'}`),
        h('span.when', {}, `${clockTime(b.startTime)} · ${formatDuration(buildDurationMs(b)) || '—'}`));
      if (b.isCrashRebuild) li.append(h('span.tag', {}, 'crash rebuild'));
      if (warn) li.append(h('span.tag', { title: b.warnings.join('\n') }, `${warn} warning${warn > 1 ? 's' : ''}`));
      for (const img of buildImages(b)) li.append(h('span.tag', { title: img.title, 'data-image': img.ref }, img.label));
      if (live) li.append(h('span.tag.live', { title: live.title, 'data-live-update': '' }, live.label));
      if (b.error) li.append(h('span.err', { title: b.error }, b.error));
      items.push(li);
    }
    const summary = h('summary', {}, `Build history (${(s.buildHistory || []).length})`);
    this.history.replaceChildren(summary, items.length ? h('ol', {}, ...items) : h('div.when', {}, 'No builds yet.'));
  }

  tick() {
    if (this.name && this.name !== ALL && this.el.isConnected) this.renderHead();
  }

  moveSelection(delta) {
    const names = [ALL, ...orderResources(this.app.state.resources.values()).filter((n) => matchesNameFilter(n, this.sbFilter.value))];
    const at = names.indexOf(this.selected ?? this.name);
    const next = names[Math.min(names.length - 1, Math.max(0, (at < 0 ? 0 : at) + delta))];
    this.selected = next;
    this.renderSidebar(false);
    const li = next === ALL ? this.allItem : this.sidebarItems.get(next)?.li;
    li?.scrollIntoView({ block: 'nearest' });
  }

  selectedName() {
    const n = this.selected ?? this.name;
    return n === ALL ? null : n;
  }

  focusFilter() {
    this.logs.focusFilter();
  }
}
