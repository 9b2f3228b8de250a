// Label grouping and ordering of resources for the table and the sidebar (pure).

import { TILTFILE, isDisabled } from './status.js';

export const UNLABELED = 'unlabeled';
export const TILTFILE_GROUP = 'Tiltfile';

/** The labels a resource is grouped under: its own, minus prefixed ones ("a/b"). */
export function resourceLabels(res) {
  const labels = Object.keys(res?.metadata?.labels || {}).filter((l) => l && !l.includes('/'));
  return labels.sort();
}

/** Case-insensitive match of every space-separated word against the name. */
export function matchesNameFilter(name, filter) {
  const words = (filter || '').toLowerCase().split(/\s+/).filter(Boolean);
  if (!words.length) return true;
  const n = name.toLowerCase();
  return words.every((w) => n.includes(w));
}

/** Tiltfile order first (status.order), then name; disabled resources sink to the end. */
export function compareResources(a, b) {
  const da = isDisabled(a) ? 1 : 0;
  const db = isDisabled(b) ? 1 : 0;
  if (da !== db) return da - db;
  const oa = a.status?.order ?? 0;
  const ob = b.status?.order ?? 0;
  if (oa !== ob) return oa - ob;
  return a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0;
}

/**
 * Groups resources by label: labels alphabetically, then "unlabeled", then "Tiltfile" holding only
 * (Tiltfile). A resource with several labels appears in each. Returns [{label, names}], names sorted
 * by compareResources; empty groups are left out.
 */
export function groupResources(resources, { filter = '', showDisabled = false } = {}) {
  const groups = new Map();
  const add = (label, res) => {
    let g = groups.get(label);
    if (!g) groups.set(label, (g = []));
    g.push(res);
  };
  for (const res of resources) {
    const name = res.metadata.name;
    if (!showDisabled && isDisabled(res)) continue;
    if (!matchesNameFilter(name, filter)) continue;
    if (name === TILTFILE) {
      add(TILTFILE_GROUP, res);
      continue;
    }
    const labels = resourceLabels(res);
    if (!labels.length) add(UNLABELED, res);
    for (const l of labels) add(l, res);
  }
  const special = new Set([UNLABELED, TILTFILE_GROUP]);
  const labels = [...groups.keys()].filter((l) => !special.has(l)).sort((a, b) => a.localeCompare(b));
  if (groups.has(UNLABELED)) labels.push(UNLABELED);
  if (groups.has(TILTFILE_GROUP)) labels.push(TILTFILE_GROUP);
  return labels.map((label) => ({ label, names: groups.get(label).sort(compareResources).map((r) => r.metadata.name) }));
}

/** A flat ordered list (sidebar): (Tiltfile) first, then by order/name; disabled last. */
export function orderResources(resources, { showDisabled = true } = {}) {
  const list = [...resources].filter((r) => showDisabled || !isDisabled(r));
  list.sort((a, b) => {
    if (a.metadata.name === TILTFILE) return -1;
    if (b.metadata.name === TILTFILE) return 1;
    return compareResources(a, b);
  });
  return list.map((r) => r.metadata.name);
}
