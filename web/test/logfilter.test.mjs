// Tests for log filters (resource, source, level, text, /regex/) and the incremental filtered view.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LogView, parseTerm } from '../js/logfilter.js';
import { appendLogList, createLogStore, isBuildSpanId } from '../js/logstore.js';

function store(segments, maxLines) {
  const s = createLogStore(maxLines);
  appendLogList(s, {
    spans: { 'build:1': { manifestName: 'api' }, 'pod:api:x': { manifestName: 'api' }, 'localserve:2': { manifestName: 'web' }, 'tiltfile:(Tiltfile):1': { manifestName: '(Tiltfile)' } },
    segments,
    fromCheckpoint: 0,
    toCheckpoint: segments.length,
  });
  return s;
}
const seg = (spanId, text, level = 'INFO') => ({ spanId, text, level });
const texts = (view) => Array.from({ length: view.count }, (_, i) => view.store.text[view.idAt(i) - view.store.base]);

const sample = () =>
  store([
    seg('tiltfile:(Tiltfile):1', 'loading Tiltfile\n'),
    seg('build:1', 'Step 1/3 building\n'),
    seg('pod:api:x', 'listening on :8080\n'),
    seg('build:1', 'deprecated flag\n', 'WARN'),
    seg('localserve:2', '\x1b[31mpanic: boom\x1b[0m\n', 'ERROR'),
    seg('pod:api:x', 'GET /health 200\n'),
  ]);

test('span ids classify build versus runtime', () => {
  assert.equal(isBuildSpanId('build:3'), true);
  assert.equal(isBuildSpanId('cmdimage:1'), true);
  assert.equal(isBuildSpanId('tiltfile:(Tiltfile):1'), true);
  assert.equal(isBuildSpanId('pod:api:x'), false);
  assert.equal(isBuildSpanId('localserve:1'), false);
});

test('no filter shows everything without an id array', () => {
  const v = new LogView(sample(), {});
  assert.equal(v.trivial, true);
  assert.equal(v.count, 6);
  assert.equal(v.ids.length, 0);
});

test('resource filter keeps that manifest; (all) keeps everything', () => {
  assert.deepEqual(texts(new LogView(sample(), { manifest: 'api' })), ['Step 1/3 building', 'listening on :8080', 'deprecated flag', 'GET /health 200']);
  assert.equal(new LogView(sample(), { manifest: '(all)' }).count, 6);
});

test('source filter splits build and runtime logs', () => {
  assert.deepEqual(texts(new LogView(sample(), { manifest: 'api', source: 'build' })), ['Step 1/3 building', 'deprecated flag']);
  assert.deepEqual(texts(new LogView(sample(), { source: 'runtime' })), ['listening on :8080', '\x1b[31mpanic: boom\x1b[0m', 'GET /health 200']);
});

test('level filter keeps warnings or errors', () => {
  assert.deepEqual(texts(new LogView(sample(), { level: 'warn' })), ['deprecated flag']);
  assert.deepEqual(texts(new LogView(sample(), { level: 'error' })), ['\x1b[31mpanic: boom\x1b[0m']);
  assert.equal(new LogView(sample(), { level: 'bogus' }).trivial, true);
});

test('text term is a case-insensitive substring of the visible text', () => {
  assert.deepEqual(texts(new LogView(sample(), { term: 'PANIC' })), ['\x1b[31mpanic: boom\x1b[0m']);
  // The escape sequence itself is not searchable.
  assert.equal(new LogView(sample(), { term: '[31m' }).count, 0);
});

test('a /regex/ term matches as a regular expression', () => {
  assert.deepEqual(texts(new LogView(sample(), { term: '/^(get|step) /' })), ['Step 1/3 building', 'GET /health 200']);
  const bad = parseTerm('/(/');
  assert.equal(bad.kind, 'text');
  assert.ok(bad.error);
});

test('filters combine', () => {
  assert.deepEqual(texts(new LogView(sample(), { manifest: 'api', source: 'runtime', term: 'health' })), ['GET /health 200']);
});

test('sync appends only new matching lines, and follows trimming', () => {
  const s = store([seg('build:1', 'a1\n'), seg('pod:api:x', 'b1\n')], 4);
  const v = new LogView(s, { source: 'build' });
  assert.deepEqual(texts(v), ['a1']);
  const r = appendLogList(s, { segments: [seg('build:1', 'a2\n'), seg('pod:api:x', 'b2\n')], fromCheckpoint: 2, toCheckpoint: 4 });
  v.sync(r.continued);
  assert.deepEqual(texts(v), ['a1', 'a2']);
  appendLogList(s, { segments: [seg('build:1', 'a3\n')], fromCheckpoint: 4, toCheckpoint: 5 });
  v.sync();
  // maxLines 4: the fifth line trims the oldest (a1).
  assert.equal(s.base, 1);
  assert.deepEqual(texts(v), ['a2', 'a3']);
  appendLogList(s, { segments: [seg('pod:api:x', 'b3\nb4\n')], fromCheckpoint: 5, toCheckpoint: 6 });
  v.sync();
  assert.equal(s.base, 3);
  assert.deepEqual(texts(v), ['a3']);
});

test('a partial line that grows into a match is added in order', () => {
  const s = store([seg('build:1', 'compil'), seg('build:1', '')]);
  const v = new LogView(s, { term: 'compiled' });
  assert.equal(v.count, 0);
  const r = appendLogList(s, { segments: [seg('build:1', 'ed ok\n')], fromCheckpoint: 2, toCheckpoint: 3 });
  v.sync(r.continued);
  assert.deepEqual(texts(v), ['compiled ok']);
});
