// Tests for the View state module: complete/delta merge, deletion, log checkpoints and buttons.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyView, buttonClickBody, buttonsAt, createState, disableToggleFor } from '../js/state.js';
import { lineText } from '../js/logstore.js';

const res = (name, status = {}, extra = {}) => ({ metadata: { name, ...extra }, status });
const seg = (spanId, text, level = 'INFO') => ({ spanId, text, level, time: '2026-01-01T00:00:00Z' });
const complete = (over = {}) => ({ isComplete: true, tiltStartTime: 'T0', uiResources: [], uiButtons: [], ...over });

test('complete view loads resources, buttons and logs', () => {
  const s = createState();
  const ch = applyView(s, complete({
    uiResources: [res('(Tiltfile)'), res('api', { updateStatus: 'ok' })],
    uiButtons: [{ metadata: { name: 'b1' }, spec: {} }],
    logList: { spans: { 'build:1': { manifestName: 'api' } }, segments: [seg('build:1', 'a\nb\n')], fromCheckpoint: 0, toCheckpoint: 1 },
  }));
  assert.equal(ch.complete, true);
  assert.deepEqual([...ch.resources].sort(), ['(Tiltfile)', 'api']);
  assert.deepEqual([...s.buttons.keys()], ['b1']);
  assert.equal(s.logs.text.length, 2);
  assert.equal(s.logs.checkpoint, 1);
});

test('delta merges changed resources by name and keeps the others', () => {
  const s = createState();
  applyView(s, complete({ uiResources: [res('a', { updateStatus: 'ok' }), res('b', { updateStatus: 'ok' })] }));
  const ch = applyView(s, { uiResources: [res('b', { updateStatus: 'error' }), res('c')] });
  assert.deepEqual([...ch.resources].sort(), ['b', 'c']);
  assert.equal(s.resources.get('a').status.updateStatus, 'ok');
  assert.equal(s.resources.get('b').status.updateStatus, 'error');
  assert.equal(s.resources.size, 3);
});

test('delta with deletionTimestamp removes the resource', () => {
  const s = createState();
  applyView(s, complete({ uiResources: [res('a'), res('b')] }));
  const ch = applyView(s, { uiResources: [res('a', {}, { deletionTimestamp: '2026-01-01T00:00:01Z' })] });
  assert.deepEqual([...ch.removed], ['a']);
  assert.deepEqual([...s.resources.keys()], ['b']);
});

test('an unchanged object in a complete view is not reported as changed', () => {
  const s = createState();
  applyView(s, complete({ uiResources: [res('a', { order: 1 }), res('b')] }));
  const ch = applyView(s, complete({ uiResources: [res('a', { order: 1 }), res('b', { order: 2 })] }));
  assert.deepEqual([...ch.resources], ['b']);
});

test('a complete view drops resources it no longer lists', () => {
  const s = createState();
  applyView(s, complete({ uiResources: [res('a'), res('b')] }));
  const ch = applyView(s, complete({ uiResources: [res('b')] }));
  assert.deepEqual([...ch.removed], ['a']);
  assert.deepEqual([...s.resources.keys()], ['b']);
});

test('log segments already seen (by checkpoint) are skipped', () => {
  const s = createState();
  applyView(s, complete({ logList: { segments: [seg('x', '1\n'), seg('x', '2\n')], fromCheckpoint: 0, toCheckpoint: 2 } }));
  applyView(s, { logList: { segments: [seg('x', '2\n'), seg('x', '3\n')], fromCheckpoint: 1, toCheckpoint: 3 } });
  assert.deepEqual(s.logs.text, ['1', '2', '3']);
  assert.equal(s.logs.checkpoint, 3);
});

test('a repeated complete view of the same run continues the logs instead of reparsing', () => {
  const s = createState();
  const segs = [seg('x', '1\n'), seg('x', '2\n')];
  applyView(s, complete({ logList: { segments: segs, fromCheckpoint: 0, toCheckpoint: 2 } }));
  const ch = applyView(s, complete({ logList: { segments: [...segs, seg('x', '3\n')], fromCheckpoint: 0, toCheckpoint: 3 } }));
  assert.equal(ch.logsReset, false);
  assert.equal(ch.logs.first, 2);
  assert.deepEqual(s.logs.text, ['1', '2', '3']);
});

test('a complete view from a new run replaces the logs', () => {
  const s = createState();
  applyView(s, complete({ logList: { segments: [seg('x', 'old\n')], fromCheckpoint: 0, toCheckpoint: 1 } }));
  const ch = applyView(s, complete({ tiltStartTime: 'T1', logList: { segments: [seg('x', 'new\n')], fromCheckpoint: 0, toCheckpoint: 1 } }));
  assert.equal(ch.logsReset, true);
  assert.deepEqual(s.logs.text, ['new']);
});

test('partial lines are joined per span, not across spans', () => {
  const s = createState();
  applyView(s, complete({ logList: { segments: [seg('a', 'hel'), seg('b', 'other\n'), seg('a', 'lo\nnext')], fromCheckpoint: 0, toCheckpoint: 3 } }));
  assert.deepEqual(s.logs.text, ['hello', 'other', 'next']);
  const ch = applyView(s, { logList: { segments: [seg('a', ' part\n', 'WARN')], fromCheckpoint: 3, toCheckpoint: 4 } });
  assert.deepEqual(s.logs.text, ['hello', 'other', 'next part']);
  assert.deepEqual(ch.logs.continued, [2]);
  assert.equal(s.logs.level[2], 1);
});

test('carriage returns keep the last redraw of a line', () => {
  const s = createState();
  applyView(s, complete({ logList: { segments: [seg('a', '10%\r50%\r100%\r\n')], fromCheckpoint: 0, toCheckpoint: 1 } }));
  assert.deepEqual(s.logs.text, ['100%']);
});

test('the log store trims the oldest lines past its limit and keeps ids stable', () => {
  const s = createState({ maxLines: 10 });
  const segments = Array.from({ length: 12 }, (_, i) => seg('a', `l${i}\n`));
  applyView(s, complete({ logList: { segments, fromCheckpoint: 0, toCheckpoint: 12 } }));
  assert.equal(s.logs.text.length, 10);
  assert.equal(s.logs.base, 2);
  assert.equal(lineText(s.logs, 2), 'l2');
});

test('buttons: disable toggle lookup, locations and click body', () => {
  const s = createState();
  const toggle = { metadata: { name: 'api-disable', annotations: { 'tilt.dev/uibutton-type': 'DisableToggle' } }, spec: { location: { componentType: 'Resource', componentID: 'api' }, inputs: [{ name: 'action', hidden: { value: 'on' } }] } };
  const custom = { metadata: { name: 'seed' }, spec: { location: { componentType: 'Resource', componentID: 'api' }, inputs: [{ name: 'n', text: { defaultValue: '3' } }, { name: 'force', bool: {} }, { name: 'env', choice: { choices: ['dev', 'prod'] } }] } };
  const global = { metadata: { name: 'g' }, spec: { location: { componentType: 'Global' } } };
  applyView(s, complete({ uiButtons: [toggle, custom, global] }));
  assert.equal(disableToggleFor(s, 'api'), toggle);
  assert.deepEqual(buttonsAt(s, 'api').map((b) => b.metadata.name), ['seed']);
  assert.deepEqual(buttonsAt(s, null).map((b) => b.metadata.name), ['g']);
  const body = buttonClickBody(custom, { env: 'prod' }, new Date('2026-01-02T03:04:05Z'));
  assert.equal(body.status.lastClickedAt, '2026-01-02T03:04:05.000Z');
  assert.deepEqual(body.status.inputs, [
    { name: 'n', text: { value: '3' } },
    { name: 'force', bool: { value: false } },
    { name: 'env', choice: { value: 'prod' } },
  ]);
  const off = buttonClickBody(toggle, { action: 'off' });
  assert.deepEqual(off.status.inputs, [{ name: 'action', hidden: { value: 'off' } }]);
});
