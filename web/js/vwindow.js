// Virtual-window arithmetic for the log pane: which rows to render for a scroll position, with scaling past browser height limits.

// Chromium caps element heights near 33.5M px and Firefox near 17.9M; stay below both at any zoom.
export const MAX_SCROLL_HEIGHT = 15_000_000;

/**
 * For `count` rows of `rowHeight` px in a viewport of `viewportHeight` px scrolled to `scrollTop`,
 * returns {start, end, offset, totalHeight, topRow}: render rows [start, end) absolutely from
 * `offset` px. Past `maxHeight` the scrollbar maps proportionally onto rows.
 */
export function computeWindow({ count, rowHeight, viewportHeight, scrollTop, overscan = 8, maxHeight = MAX_SCROLL_HEIGHT }) {
  const natural = count * rowHeight;
  const totalHeight = Math.min(natural, maxHeight);
  const maxScroll = Math.max(0, totalHeight - viewportHeight);
  const top = Math.min(Math.max(0, scrollTop), maxScroll);
  const visibleRows = viewportHeight / rowHeight;
  let topRow;
  if (natural <= maxHeight) topRow = top / rowHeight;
  else topRow = maxScroll > 0 ? (top / maxScroll) * Math.max(0, count - visibleRows) : 0;
  const start = Math.max(0, Math.floor(topRow) - overscan);
  const end = Math.min(count, Math.ceil(topRow + visibleRows) + overscan);
  const offset = top + (start - topRow) * rowHeight;
  return { start, end, offset, totalHeight, topRow };
}

/** The scrollTop that puts `row` at the top of the viewport (inverse of computeWindow). */
export function scrollTopForRow({ row, count, rowHeight, viewportHeight, maxHeight = MAX_SCROLL_HEIGHT }) {
  const natural = count * rowHeight;
  const totalHeight = Math.min(natural, maxHeight);
  const maxScroll = Math.max(0, totalHeight - viewportHeight);
  if (natural <= maxHeight) return Math.min(maxScroll, Math.max(0, row * rowHeight));
  const span = Math.max(1, count - viewportHeight / rowHeight);
  return Math.min(maxScroll, Math.max(0, (row / span) * maxScroll));
}
