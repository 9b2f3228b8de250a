// Tests for paging older log lines: the tail from a complete View, pages for all resources, one resource's run, and the views over them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hasMore, loadOlder } from '../js/history.js';
import { LogView } from '../js/logfilter.js';
import { appendLogList } from '../js/logstore.js';
import { applyView, createState } from '../js/state.js';

// A server with lines 1..n: resource "a" on every 10th checkpoint, "b" on the others.
function server(n) {
  const lines = [];
  for (let cp = 1; cp <= n; cp++) lines.push({ cp, res: cp % 10 === 0 ? 'a' : 'b', text: `line ${cp}` });
  const spans = { 'pod:a': { manifestName: 'a' }, 'pod:b': { manifestName: 'b' } };
  const list = (ls) => ({ spans, segments: ls.map((l) => ({ spanId: `pod:${l.res}`, text: `${l.text}\n`, level: 'INFO' })) });
  const calls = [];
  return {
    calls,
    tail(k) {
      const ls = lines.slice(-k);
      return { ...list(ls), fromCheckpoint: n - ls.length, toCheckpoint: n, firstCheckpoint: ls[0].cp, hasOlder: ls[0].cp > 1 };
    },
    async fetchPage({ resource, before, limit }) {
      calls.push({ resource, before, limit });
      const ls = lines.filter((l) => l.cp < before && (resource === null || l.res === resource));
      const page = ls.slice(-limit);
      return { logList: list(page), firstCheckpoint: page[0]?.cp ?? 0, hasOlder: ls.length > page.length };
    },
  };
}

const texts = (view) => Array.from({ length: view.count }, (_, i) => view.store.text[view.idAt(i) - view.store.base]);
const nums = (view) => texts(view).map((t) => Number(t.split(' ')[1]));

test('a complete View with a tail says where paging starts', () => {
  const srv = server(100);
  const state = createState();
  applyView(state, { isComplete: true, tiltStartTime: 't', logList: srv.tail(30) });
  assert.equal(state.logs.first, 71);
  assert.equal(state.logs.hasOlder, true);
  assert.equal(state.logs.text.length, 30);
  // A View without lilt's fields (Tilt's server) disables paging.
  const tilt = createState();
  applyView(tilt, { isComplete: true, tiltStartTime: 't', logList: { segments: [], fromCheckpoint: 0, toCheckpoint: 0 } });
  assert.equal(hasMore(tilt.logs, null), false);
});

test('pages for all resources extend the log without changing ids', async () => {
  const srv = server(100);
  const state = createState();
  applyView(state, { isComplete: true, tiltStartTime: 't', logList: srv.tail(30) });
  const all = new LogView(state.logs, {});
  const onlyA = new LogView(state.logs, { manifest: 'a' });
  const idOfLast = all.idAt(all.count - 1);
  let total = 0;
  while (hasMore(state.logs, null)) total += await loadOlder(state.logs, null, srv.fetchPage, 25);
  assert.equal(total, 70);
  assert.equal(all.prepended(), 70);
  assert.equal(onlyA.prepended(), 7);
  assert.deepEqual(nums(all), Array.from({ length: 100 }, (_, i) => i + 1));
  assert.deepEqual(nums(onlyA), [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
  assert.equal(all.idAt(all.count - 1), idOfLast);
  assert.deepEqual(srv.calls.map((c) => c.before), [71, 46, 21]);
});

test("one resource's older run is hidden from the all-resources view and replaced when another is paged", async () => {
  const srv = server(100);
  const state = createState();
  applyView(state, { isComplete: true, tiltStartTime: 't', logList: srv.tail(30) });
  const onlyA = new LogView(state.logs, { manifest: 'a' });
  assert.equal(await loadOlder(state.logs, 'a', srv.fetchPage, 4), 4);
  onlyA.prepended();
  assert.deepEqual(nums(onlyA), [40, 50, 60, 70, 80, 90, 100]);
  assert.equal(await loadOlder(state.logs, 'a', srv.fetchPage, 4), 3);
  onlyA.prepended();
  assert.deepEqual(nums(onlyA), [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
  assert.equal(hasMore(state.logs, 'a'), false);
  assert.deepEqual(srv.calls.at(-1), { resource: 'a', before: 40, limit: 4 });

  const all = new LogView(state.logs, {});
  assert.equal(all.count, 30, 'the all view starts at the contiguous range');
  const warnAll = new LogView(state.logs, { term: 'line' });
  assert.equal(warnAll.count, 30);

  // Paging all resources drops the run and continues from the contiguous range.
  assert.equal(await loadOlder(state.logs, null, srv.fetchPage, 20), 20);
  all.prepended();
  assert.deepEqual(nums(all), Array.from({ length: 50 }, (_, i) => i + 51));
  assert.equal(state.logs.prefix, null);
  // New lines still append after everything.
  appendLogList(state.logs, { segments: [{ spanId: 'pod:a', text: 'line 101\n' }], fromCheckpoint: 100, toCheckpoint: 101 });
  all.sync();
  assert.equal(nums(all).at(-1), 101);
});

test('a reset while a page is in flight discards the page', async () => {
  const srv = server(100);
  const state = createState();
  applyView(state, { isComplete: true, tiltStartTime: 't', logList: srv.tail(30) });
  const pending = loadOlder(state.logs, null, srv.fetchPage, 10);
  applyView(state, { isComplete: true, tiltStartTime: 'other run', logList: srv.tail(5) });
  assert.equal(await pending, 0);
  assert.equal(state.logs.text.length, 5);
});
