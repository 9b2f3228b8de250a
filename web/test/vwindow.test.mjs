// Tests for the virtual log window: rows to render for a scroll position, scaling, and its inverse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeWindow, scrollTopForRow } from '../js/vwindow.js';

test('top of a short list renders from row 0', () => {
  const w = computeWindow({ count: 100, rowHeight: 20, viewportHeight: 200, scrollTop: 0, overscan: 2 });
  assert.deepEqual([w.start, w.end, w.offset, w.totalHeight], [0, 12, 0, 2000]);
});

test('scrolled window renders only the visible rows plus overscan', () => {
  const w = computeWindow({ count: 100_000, rowHeight: 18, viewportHeight: 900, scrollTop: 18 * 5000, overscan: 5 });
  assert.equal(w.start, 4995);
  assert.equal(w.end, 5055);
  assert.equal(w.offset, 4995 * 18);
});

test('scrollTop past the end is clamped', () => {
  const w = computeWindow({ count: 50, rowHeight: 10, viewportHeight: 100, scrollTop: 99999, overscan: 0 });
  assert.deepEqual([w.start, w.end], [40, 50]);
});

test('an empty list renders nothing', () => {
  const w = computeWindow({ count: 0, rowHeight: 10, viewportHeight: 100, scrollTop: 0 });
  assert.deepEqual([w.start, w.end, w.totalHeight], [0, 0, 0]);
});

test('beyond the height cap the scrollbar maps proportionally and reaches the last row', () => {
  const args = { count: 10_000_000, rowHeight: 20, viewportHeight: 1000, maxHeight: 1_000_000, overscan: 0 };
  const bottom = computeWindow({ ...args, scrollTop: 1_000_000 });
  assert.equal(bottom.totalHeight, 1_000_000);
  assert.equal(bottom.end, 10_000_000);
  assert.equal(bottom.start, 10_000_000 - 50);
  // The rendered block ends exactly at the bottom of the viewport.
  assert.equal(bottom.offset + (bottom.end - bottom.start) * 20, 1_000_000);
  const mid = computeWindow({ ...args, scrollTop: 499_500 });
  assert.ok(Math.abs(mid.topRow - (10_000_000 - 50) / 2) < 1);
});

test('scrollTopForRow inverts computeWindow', () => {
  for (const args of [
    { count: 1000, rowHeight: 18, viewportHeight: 360 },
    { count: 10_000_000, rowHeight: 20, viewportHeight: 1000, maxHeight: 1_000_000 },
  ]) {
    const row = Math.floor(args.count / 3);
    const top = scrollTopForRow({ ...args, row });
    const w = computeWindow({ ...args, scrollTop: top, overscan: 0 });
    assert.ok(Math.abs(w.topRow - row) < 1e-6 * args.count + 0.01, `row ${row} got ${w.topRow}`);
  }
});
