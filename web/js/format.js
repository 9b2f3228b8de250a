// Formatting helpers for durations and times shown in the dashboard.

export function formatDuration(ms) {
  if (!Number.isFinite(ms) || ms < 0) return '';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 10) return `${s.toFixed(1)}s`;
  if (s < 60) return `${Math.round(s)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${Math.round(s - m * 60)}s`;
  const h = Math.floor(m / 60);
  return `${h}h ${m - h * 60}m`;
}

export function parseTime(iso) {
  if (!iso) return NaN;
  const t = Date.parse(iso);
  // Go's zero time means "never".
  return Number.isFinite(t) && t > 0 ? t : NaN;
}

export function timeAgo(iso, now = Date.now()) {
  const t = parseTime(iso);
  if (!Number.isFinite(t)) return '';
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 5) return 'just now';
  if (s < 60) return `${s}s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ago`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ago`;
  return `${Math.floor(h / 24)}d ago`;
}

export function clockTime(iso) {
  const t = parseTime(iso);
  if (!Number.isFinite(t)) return '';
  return new Date(t).toLocaleTimeString([], { hour12: false });
}

export function buildDurationMs(build) {
  const a = parseTime(build?.startTime);
  const b = parseTime(build?.finishTime);
  return Number.isFinite(a) && Number.isFinite(b) ? b - a : NaN;
}
