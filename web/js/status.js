// Status vocabulary derived from a UIResource: type, build/runtime/combined status, the table's status texts, summary counts.

import { buildDurationMs, formatDuration, parseTime } from './format.js';

export const TILTFILE = '(Tiltfile)';

export function isDisabled(res) {
  return res?.status?.disableStatus?.state === 'Disabled';
}

export function isManual(res) {
  const m = res?.status?.triggerMode ?? 0;
  return m === 1 || m === 2;
}

/** Trigger mode after flipping auto/manual, keeping the "on init" half of the mode. */
export function toggledTriggerMode(mode) {
  return [1, 0, 3, 2][mode] ?? 0;
}

export function resourceType(res) {
  if (res?.metadata?.name === TILTFILE) return 'Tiltfile';
  const types = new Set((res?.status?.specs || []).map((s) => s.type));
  if (types.has('k8s')) return 'K8s';
  if (types.has('docker-compose')) return 'DCS';
  if (types.has('local')) return 'Local';
  return 'Unknown';
}

/** The images one build record produced, as short labels: `REF · built` or `REF · up to date` (lilt's addition to Tilt's records). */
export function buildImages(build) {
  return (build?.images || []).map((img) => ({
    ref: img.ref,
    label: `${img.ref} · ${img.cached ? 'up to date' : 'built'}${img.pushed ? ' · pushed' : ''}`,
    title: img.digest || img.ref,
  }));
}

/**
 * What a live update did, as one short label and a title listing the containers it reached
 * (lilt's addition to Tilt's records); null for a build that was not a live update.
 */
export function liveUpdateSummary(build) {
  const lu = build?.liveUpdate;
  if (!lu) return null;
  const copied = lu.filesCopied || 0;
  const parts = [`${copied} file${copied === 1 ? '' : 's'} synced`];
  if (lu.filesDeleted) parts.push(`${lu.filesDeleted} deleted`);
  for (const run of lu.runs || []) parts.push(`ran ${run}`);
  if (lu.restarted) parts.push('restarted');
  const containers = lu.containers || [];
  parts.push(`${containers.length} container${containers.length === 1 ? '' : 's'}`);
  parts.push(formatDuration(lu.elapsedMs ?? NaN) || '—');
  return {
    label: `Live update · ${parts.join(' · ')}`,
    title: containers.length ? `Live-updated in:\n${containers.join('\n')}` : 'No container reached',
  };
}

/** Most recent finished build (Tilt keeps buildHistory newest first; be robust to either order). */
export function lastBuild(res) {
  const hist = res?.status?.buildHistory || [];
  if (hist.length <= 1) return hist[0];
  let best = hist[0];
  for (const b of hist) if ((parseTime(b.finishTime) || 0) > (parseTime(best.finishTime) || 0)) best = b;
  return best;
}

export function buildStatus(res) {
  if (isDisabled(res)) return 'disabled';
  switch (res?.status?.updateStatus) {
    case 'in_progress':
      return 'building';
    case 'pending':
      return 'pending';
    case 'error':
      return 'error';
    case 'ok':
      return lastBuild(res)?.warnings?.length ? 'warning' : 'ok';
    default:
      return 'none';
  }
}

export function runtimeStatus(res) {
  if (isDisabled(res)) return 'disabled';
  const s = res?.status;
  if (s?.composeResourceInfo?.healthStatus === 'unhealthy') return 'error';
  switch (s?.runtimeStatus) {
    case 'error':
      return 'error';
    case 'pending':
      return 'pending';
    case 'ok':
      return 'ok';
    default:
      return 'none';
  }
}

/** One status for icons and counts: the build's unless it is fine, then the runtime's. */
export function combinedStatus(res) {
  const b = buildStatus(res);
  if (b !== 'ok' && b !== 'none') return b;
  const r = runtimeStatus(res);
  return r === 'none' ? b : r;
}

export function holdReason(res) {
  return res?.status?.waiting?.reason || '';
}

/** {text, title, status} for the update line of the status cell. */
export function updateLine(res) {
  const b = buildStatus(res);
  switch (b) {
    case 'disabled':
      return { status: b, text: 'Disabled', title: 'Resource is disabled' };
    case 'building':
      return { status: b, text: 'Updating…', title: '' };
    case 'pending': {
      const reason = holdReason(res);
      const queued = res?.status?.queued;
      const text = reason ? `Update pending: ${reason}` : queued ? 'Update queued' : 'Update pending';
      return { status: b, text, title: reason ? `Waiting: ${reason}` : text };
    }
    case 'error': {
      const err = lastBuild(res)?.error || '';
      return { status: b, text: 'Update error', title: err };
    }
    case 'ok':
    case 'warning': {
      const d = buildDurationMs(lastBuild(res));
      const text = Number.isFinite(d) ? `Updated in ${formatDuration(d)}` : 'Updated';
      const warn = lastBuild(res)?.warnings?.length;
      return { status: b, text: warn ? `${text}, ${warn} warning${warn > 1 ? 's' : ''}` : text, title: '' };
    }
    default:
      return { status: b, text: res?.status?.updateStatus === 'not_applicable' ? 'No update' : 'Not started', title: '' };
  }
}

/** {text, title, status} for the runtime line of the status cell. */
export function runtimeLine(res) {
  const r = runtimeStatus(res);
  const pod = res?.status?.k8sResourceInfo;
  const detail = pod?.podStatus ? `Pod ${pod.podName || ''} ${pod.podStatus}`.trim() : '';
  switch (r) {
    case 'disabled':
      return { status: r, text: '', title: '' };
    case 'ok':
      return { status: r, text: 'Runtime ready', title: detail };
    case 'pending':
      return { status: r, text: isUpdating(res) ? 'Runtime deploying' : 'Runtime pending', title: detail };
    case 'error':
      return { status: r, text: 'Runtime error', title: pod?.podStatusMessage || detail };
    default:
      return { status: r, text: res?.status?.runtimeStatus === 'not_applicable' ? 'No runtime' : 'Runtime idle', title: '' };
  }
}

function isUpdating(res) {
  return res?.status?.updateStatus === 'in_progress';
}

export const SUMMARY_KEYS = ['error', 'warning', 'pending', 'ok', 'disabled'];

/** Counts for the nav/group summaries: building counts as pending, none as nothing. */
export function summarize(resources) {
  const counts = { total: 0, error: 0, warning: 0, pending: 0, ok: 0, disabled: 0 };
  for (const res of resources) {
    counts.total++;
    const s = combinedStatus(res);
    if (s === 'building' || s === 'pending') counts.pending++;
    else if (s in counts) counts[s]++;
  }
  return counts;
}

/** First "path:line[:col]" in a Tiltfile error, e.g. "Tiltfile:12:3" or "lib/k8s.star:4". */
export function errorLocation(error) {
  const m = (error || '').match(/([\w./\\-]*(?:Tiltfile|\.star|\.tilt|\.py)[\w.-]*):(\d+)(?::(\d+))?/) || (error || '').match(/([\w./\\-]+):(\d+)(?::(\d+))?/);
  return m ? m[0] : '';
}
