// Talks to the lilt server: the View stream (WebSocket with backoff, polling /api/view as fallback) and the action endpoints.

/** Same-origin URL for a path relative to the app root (the document's <base>). */
export function apiUrl(path) {
  return new URL(path, document.baseURI).toString();
}

async function send(method, path, body) {
  const resp = await fetch(apiUrl(path), {
    method,
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
    credentials: 'same-origin',
  });
  const text = await resp.text();
  if (!resp.ok) throw new Error(text.trim() || `${method} ${path}: HTTP ${resp.status}`);
  return text.trim();
}

/** Returns the server's message (for example that the resource is disabled), or ''. */
export function triggerResource(name) {
  return send('POST', 'api/trigger', { manifest_names: [name], build_reason: 16 });
}

/** Stops the running Tiltfile evaluation (lilt's addition: a `local()` that never ends). */
export function cancelTiltfileLoad() {
  return send('POST', 'api/tiltfile/cancel', {});
}

export function setTriggerMode(name, mode) {
  return send('POST', 'api/override/trigger_mode', { manifest_names: [name], trigger_mode: mode });
}

export function putButtonStatus(name, body) {
  return send('PUT', `proxy/apis/tilt.dev/v1alpha1/uibuttons/${encodeURIComponent(name)}/status`, body);
}

async function getJson(path, params) {
  const url = new URL(path, document.baseURI);
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== '') url.searchParams.set(k, String(v));
  const resp = await fetch(url, { credentials: 'same-origin', cache: 'no-store' });
  if (!resp.ok) throw new Error((await resp.text()).trim() || `GET ${path}: HTTP ${resp.status}`);
  return resp.json();
}

/** A page of older lines: {logList, firstCheckpoint, hasOlder} (resource null: all). */
export function fetchLogPage({ resource, before, limit }) {
  return getJson('api/logs', { resource, before, limit });
}

/** Searches every retained line: {matches, total, truncated, firstCheckpoint, toCheckpoint}. */
export function searchLogs(q, resource, limit = 1) {
  return getJson('api/logs/search', { q, resource, limit });
}

const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 10000];
const POLL_MS = 1500;
// A WebSocket that never opened means polling /api/view at once; the socket is retried now and then.
const WS_FAILURES_BEFORE_POLLING = 1;
const WS_RETRY_WHILE_POLLING_MS = 5000;

/**
 * Keeps a View stream going. onView(view) gets every message (the first after each (re)connect is
 * complete); onStatus(state, detail) gets 'connecting' | 'connected' | 'reconnecting' | 'unauthorized', and detail
 * 'websocket' or 'polling'.
 */
export function connectView({ onView, onStatus }) {
  let attempt = 0;
  let wsFailures = 0;
  let everConnected = false;
  let mode = 'websocket';
  let pollTimer = 0;
  let wsRetryTimer = 0;
  let ws = null;

  const status = (state) => onStatus(state, mode);

  function backoff() {
    const base = BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)];
    attempt++;
    return base + Math.random() * base * 0.2;
  }

  function openSocket() {
    const url = new URL('ws/view', document.baseURI);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    let opened = false;
    try {
      ws = new WebSocket(url);
    } catch {
      socketFailed(false);
      return;
    }
    ws.onopen = () => {
      opened = true;
      everConnected = true;
      attempt = 0;
      wsFailures = 0;
      if (mode === 'polling') stopPolling();
      mode = 'websocket';
      status('connected');
    };
    ws.onmessage = (ev) => {
      let view;
      try {
        view = JSON.parse(ev.data);
      } catch {
        return;
      }
      onView(view);
    };
    ws.onclose = () => {
      ws = null;
      socketFailed(opened);
    };
  }

  function socketFailed(wasOpen) {
    if (mode === 'polling') return;
    if (!wasOpen) wsFailures++;
    if (!wasOpen && wsFailures >= WS_FAILURES_BEFORE_POLLING) {
      startPolling();
      return;
    }
    status(everConnected ? 'reconnecting' : 'connecting');
    setTimeout(openSocket, wasOpen ? 0 : backoff());
  }

  function startPolling() {
    mode = 'polling';
    attempt = 0;
    poll();
    wsRetryTimer = setInterval(() => {
      if (!ws) openSocket();
    }, WS_RETRY_WHILE_POLLING_MS);
  }

  function stopPolling() {
    clearTimeout(pollTimer);
    clearInterval(wsRetryTimer);
  }

  async function poll() {
    if (mode !== 'polling') return;
    let delay = POLL_MS;
    try {
      const resp = await fetch(apiUrl('api/view'), { credentials: 'same-origin', cache: 'no-store' });
      if (resp.status === 401) {
        // No (or a stale) session token: retrying cannot help until the user opens the URL
        // `lilt up` printed, which sets the cookie; keep checking slowly for that.
        status('unauthorized');
        if (mode === 'polling') pollTimer = setTimeout(poll, WS_RETRY_WHILE_POLLING_MS);
        return;
      }
      if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
      const view = await resp.json();
      if (mode !== 'polling') return;
      everConnected = true;
      attempt = 0;
      status('connected');
      // A polled View is always complete; state.js keeps the logs it already has.
      onView({ ...view, isComplete: true });
    } catch {
      status(everConnected ? 'reconnecting' : 'connecting');
      delay = backoff();
    }
    if (mode === 'polling') pollTimer = setTimeout(poll, delay);
  }

  status('connecting');
  openSocket();
}
