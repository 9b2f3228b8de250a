// Older log lines on demand (no DOM): pages from GET /api/logs go in front of the retained lines, for all resources or for one.

import { dropOldest, prependLogList, viewStart } from './logstore.js';

export const PAGE_LINES = 5000;

/** Whether the server has older lines for a view of `manifest` (null: all resources). */
export function hasMore(store, manifest) {
  const p = store.prefix;
  if (manifest !== null && p && p.manifest === manifest) return p.hasOlder;
  return store.first !== null && store.hasOlder;
}

/**
 * Loads one page of lines older than what a view of `manifest` has, via
 * `fetchPage({resource, before, limit})` → the /api/logs reply. Lines of all resources extend
 * the contiguous range; one resource's lines go into the prefix (a run of that resource only,
 * which the all-resources view does not show), replacing another resource's prefix.
 * Returns the number of lines added (0 when there is nothing older or the store was reset meanwhile).
 */
export async function loadOlder(store, manifest, fetchPage, limit = PAGE_LINES) {
  if (!hasMore(store, manifest)) return 0;
  const p = store.prefix;
  const own = !!(manifest !== null && p && p.manifest === manifest);
  const before = own ? p.first : store.first;
  const epoch = store.epoch;
  const page = await fetchPage({ resource: manifest, before, limit });
  if (store.epoch !== epoch) return 0;
  // Another load may have changed the store while we waited: only a page that still fits goes in.
  const now = store.prefix;
  const stillOwn = manifest !== null && now && now.manifest === manifest;
  if ((own ? now?.first : store.first) !== before || own !== !!stillOwn) return 0;
  if (!own && now) {
    // Another resource's run (or, for all resources, any run) is in the way: drop it.
    dropOldest(store, now.endId - store.base);
    store.prefix = null;
  }
  const endId = store.base;
  const n = prependLogList(store, page.logList);
  const first = n > 0 && typeof page.firstCheckpoint === 'number' ? page.firstCheckpoint : null;
  const older = n > 0 && !!page.hasOlder && first !== null;
  if (manifest === null) {
    if (first !== null) store.first = first;
    store.hasOlder = older;
  } else if (own) {
    if (first !== null) store.prefix.first = first;
    store.prefix.hasOlder = older;
  } else {
    store.prefix = { manifest, endId, first: first ?? before, hasOlder: older };
  }
  return n;
}

export { viewStart };
