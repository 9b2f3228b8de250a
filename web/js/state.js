// Client state (no DOM): applies complete Views and deltas — resources and buttons merged by name, logs appended by checkpoint.

import { appendLogList, createLogStore, resetLogStore, DEFAULT_MAX_LINES } from './logstore.js';

export const DISABLE_TOGGLE = 'DisableToggle';
export const BROWSER_BUTTON = 'Browser';

export function createState({ maxLines = DEFAULT_MAX_LINES } = {}) {
  return {
    loaded: false,
    tiltStartTime: null,
    session: null,
    resources: new Map(),
    buttons: new Map(),
    // Serialised objects, so a complete View that repeats an object unchanged reports no change.
    fingerprints: new Map(),
    logs: createLogStore(maxLines),
  };
}

function emptyChanges() {
  return {
    complete: false,
    session: false,
    resources: new Set(),
    removed: new Set(),
    buttons: new Set(),
    buttonsRemoved: new Set(),
    logsReset: false,
    logs: { first: 0, continued: [], trimmed: 0 },
  };
}

/**
 * Applies one View message and reports what changed. A complete View replaces resources and
 * buttons; its logs replace ours unless they continue them (same Tilt start, overlapping checkpoints).
 */
export function applyView(state, view) {
  const ch = emptyChanges();
  if (!view || typeof view !== 'object') return ch;
  ch.complete = !!view.isComplete;
  if (view.uiSession) {
    state.session = view.uiSession;
    ch.session = true;
  }
  const startTime = view.tiltStartTime || view.uiSession?.status?.tiltStartTime || null;
  if (ch.complete) {
    const log = view.logList;
    const from = log?.fromCheckpoint ?? 0;
    const sameRun = state.loaded && startTime === state.tiltStartTime;
    if (!sameRun || from > state.logs.checkpoint || (log && log.toCheckpoint >= 0 && log.toCheckpoint < state.logs.checkpoint)) {
      resetLogStore(state.logs);
      ch.logsReset = true;
    }
    state.loaded = true;
    if (startTime) state.tiltStartTime = startTime;
    replaceAll(state, 'resources', view.uiResources || [], 'r:', ch.resources, ch.removed);
    replaceAll(state, 'buttons', view.uiButtons || [], 'b:', ch.buttons, ch.buttonsRemoved);
  } else {
    if (startTime && !state.tiltStartTime) state.tiltStartTime = startTime;
    mergeAll(state, 'resources', view.uiResources || [], 'r:', ch.resources, ch.removed);
    mergeAll(state, 'buttons', view.uiButtons || [], 'b:', ch.buttons, ch.buttonsRemoved);
  }
  ch.logs = appendLogList(state.logs, view.logList);
  if (ch.logsReset && view.logList) {
    // lilt's complete View carries only the newest lines; these say where paging starts.
    const l = view.logList;
    state.logs.first = typeof l.firstCheckpoint === 'number' ? l.firstCheckpoint : null;
    state.logs.hasOlder = state.logs.first !== null && !!l.hasOlder;
  }
  return ch;
}

function nameOf(obj) {
  return obj?.metadata?.name;
}

function mergeAll(state, key, objs, prefix, changed, removed) {
  const map = state[key];
  for (const obj of objs) {
    const name = nameOf(obj);
    if (!name) continue;
    if (obj.metadata.deletionTimestamp) {
      if (map.delete(name)) removed.add(name);
      state.fingerprints.delete(prefix + name);
      continue;
    }
    const fp = JSON.stringify(obj);
    if (state.fingerprints.get(prefix + name) === fp) continue;
    state.fingerprints.set(prefix + name, fp);
    map.set(name, obj);
    changed.add(name);
    removed.delete(name);
  }
}

function replaceAll(state, key, objs, prefix, changed, removed) {
  const map = state[key];
  const seen = new Set();
  for (const obj of objs) {
    const name = nameOf(obj);
    if (name && !obj.metadata.deletionTimestamp) seen.add(name);
  }
  for (const name of [...map.keys()]) {
    if (!seen.has(name)) {
      map.delete(name);
      state.fingerprints.delete(prefix + name);
      removed.add(name);
    }
  }
  mergeAll(state, key, objs, prefix, changed, removed);
}

export function buttonType(button) {
  const a = button?.metadata?.annotations || {};
  if (a['tilt.dev/uibutton-type'] === DISABLE_TOGGLE) return DISABLE_TOGGLE;
  if (a['lilt.dev/uibutton-type'] === BROWSER_BUTTON) return BROWSER_BUTTON;
  return '';
}

/** The DisableToggle button of a resource (named "<name>-disable", or any toggle located on it). */
export function disableToggleFor(state, name) {
  const direct = state.buttons.get(`${name}-disable`);
  if (direct && buttonType(direct) === DISABLE_TOGGLE) return direct;
  for (const b of state.buttons.values()) {
    if (buttonType(b) === DISABLE_TOGGLE && b.spec?.location?.componentID === name) return b;
  }
  return undefined;
}

/** Custom (non-toggle) buttons shown on a resource, or with name null the Global ones; sorted by name. */
export function buttonsAt(state, name) {
  const out = [];
  for (const b of state.buttons.values()) {
    if (buttonType(b) === DISABLE_TOGGLE) continue;
    const loc = b.spec?.location || {};
    if (name === null ? loc.componentType === 'Global' : loc.componentType === 'Resource' && loc.componentID === name) out.push(b);
  }
  return out.sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
}

/** The body PUT to .../uibuttons/<name>/status for a click with `values` ({inputName: value}). */
export function buttonClickBody(button, values = {}, now = new Date()) {
  const inputs = [];
  for (const spec of button.spec?.inputs || []) {
    const v = values[spec.name];
    if (spec.hidden) inputs.push({ name: spec.name, hidden: { value: v ?? spec.hidden.value ?? '' } });
    else if (spec.bool) inputs.push({ name: spec.name, bool: { value: v ?? !!spec.bool.defaultValue } });
    else if (spec.choice) inputs.push({ name: spec.name, choice: { value: v ?? spec.choice.choices?.[0] ?? '' } });
    else inputs.push({ name: spec.name, text: { value: v ?? spec.text?.defaultValue ?? '' } });
  }
  return {
    metadata: button.metadata,
    spec: button.spec,
    status: { ...(button.status || {}), lastClickedAt: now.toISOString(), inputs },
  };
}
