// Tests for the status vocabulary: type, status texts, combined status, summaries, trigger-mode toggling, error locations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildImages, liveUpdateSummary,
  combinedStatus, errorLocation, resourceType, runtimeLine, summarize, toggledTriggerMode, updateLine,
} from '../js/status.js';

const res = (status, name = 'api') => ({ metadata: { name }, status });
const build = (ms, extra = {}) => ({ startTime: '2026-01-01T00:00:00Z', finishTime: new Date(Date.parse('2026-01-01T00:00:00Z') + ms).toISOString(), ...extra });

test('type comes from specs; (Tiltfile) is Tiltfile', () => {
  assert.equal(resourceType(res({ specs: [{ type: 'image' }, { type: 'k8s' }] })), 'K8s');
  assert.equal(resourceType(res({ specs: [{ type: 'docker-compose' }] })), 'DCS');
  assert.equal(resourceType(res({ specs: [{ type: 'local' }] })), 'Local');
  assert.equal(resourceType(res({}, '(Tiltfile)')), 'Tiltfile');
  assert.equal(resourceType(res({})), 'Unknown');
});

test('update line texts', () => {
  assert.equal(updateLine(res({ updateStatus: 'in_progress' })).text, 'Updating…');
  const pending = updateLine(res({ updateStatus: 'pending', waiting: { reason: 'waiting on db' } }));
  assert.equal(pending.text, 'Update pending: waiting on db');
  assert.match(pending.title, /waiting on db/);
  assert.equal(updateLine(res({ updateStatus: 'ok', buildHistory: [build(1200)] })).text, 'Updated in 1.2s');
  const err = updateLine(res({ updateStatus: 'error', buildHistory: [build(10, { error: 'exit 1' })] }));
  assert.deepEqual([err.text, err.title, err.status], ['Update error', 'exit 1', 'error']);
  assert.equal(updateLine(res({ updateStatus: 'ok', disableStatus: { state: 'Disabled' } })).text, 'Disabled');
});

test('runtime line texts', () => {
  assert.equal(runtimeLine(res({ runtimeStatus: 'ok' })).text, 'Runtime ready');
  assert.equal(runtimeLine(res({ runtimeStatus: 'error' })).text, 'Runtime error');
  assert.equal(runtimeLine(res({ runtimeStatus: 'pending' })).text, 'Runtime pending');
  assert.equal(runtimeLine(res({ runtimeStatus: 'pending', updateStatus: 'in_progress' })).text, 'Runtime deploying');
  assert.equal(runtimeLine(res({ runtimeStatus: 'ok', composeResourceInfo: { healthStatus: 'unhealthy' } })).status, 'error');
});

test('combined status prefers a non-healthy build, then the runtime', () => {
  assert.equal(combinedStatus(res({ updateStatus: 'error', runtimeStatus: 'ok' })), 'error');
  assert.equal(combinedStatus(res({ updateStatus: 'in_progress', runtimeStatus: 'error' })), 'building');
  assert.equal(combinedStatus(res({ updateStatus: 'ok', runtimeStatus: 'error' })), 'error');
  assert.equal(combinedStatus(res({ updateStatus: 'ok', runtimeStatus: 'none' })), 'ok');
  assert.equal(combinedStatus(res({ updateStatus: 'ok', buildHistory: [build(1, { warnings: ['w'] })], runtimeStatus: 'ok' })), 'warning');
  assert.equal(combinedStatus(res({ updateStatus: 'error', disableStatus: { state: 'Disabled' } })), 'disabled');
});

test('summary counts building as pending', () => {
  const counts = summarize([
    res({ updateStatus: 'error' }),
    res({ updateStatus: 'in_progress' }),
    res({ updateStatus: 'pending' }),
    res({ updateStatus: 'ok', runtimeStatus: 'ok' }),
    res({ disableStatus: { state: 'Disabled' } }),
    res({ updateStatus: 'none', runtimeStatus: 'none' }),
  ]);
  assert.deepEqual(counts, { total: 6, error: 1, warning: 0, pending: 2, ok: 1, disabled: 1 });
});

test('toggling the trigger mode keeps the init half', () => {
  assert.deepEqual([0, 1, 2, 3].map(toggledTriggerMode), [1, 0, 3, 2]);
});

test('error location finds the Tiltfile frame', () => {
  const err = 'Traceback (most recent call last):\n  Tiltfile:12:3: in <toplevel>\n  lib/x.star:4:9: in f\nError: boom';
  assert.equal(errorLocation(err), 'Tiltfile:12:3');
  assert.equal(errorLocation('/src/app/Tiltfile:7: syntax error'), '/src/app/Tiltfile:7');
  assert.equal(errorLocation('no location here'), '');
});

test('a build record lists the images it built or found up to date', () => {
  const build = {
    images: [
      { imageRef: 'shop/api', ref: 'r:5000/shop_api:tilt-0123456789abcdef', digest: 'sha256:aa', cached: true, pushed: true },
      { imageRef: 'shop/web', ref: 'shop/web:tilt-fedcba9876543210', cached: false, pushed: false },
    ],
  };
  assert.deepEqual(buildImages(build), [
    { ref: 'r:5000/shop_api:tilt-0123456789abcdef', label: 'r:5000/shop_api:tilt-0123456789abcdef · up to date · pushed', title: 'sha256:aa' },
    { ref: 'shop/web:tilt-fedcba9876543210', label: 'shop/web:tilt-fedcba9876543210 · built', title: 'shop/web:tilt-fedcba9876543210' },
  ]);
  assert.deepEqual(buildImages({ error: '' }), [], 'a local build has no images');
});

test('a live update is summarized: files, deletions, runs, restart, containers, time', () => {
  const build = {
    error: '',
    liveUpdate: {
      containers: ['default/api-1/app', 'default/api-2/app'], filesCopied: 2, filesDeleted: 1,
      runs: ['make build'], restarted: true, elapsedMs: 84,
    },
  };
  assert.deepEqual(liveUpdateSummary(build), {
    label: 'Live update · 2 files synced · 1 deleted · ran make build · restarted · 2 containers · 84ms',
    title: 'Live-updated in:\ndefault/api-1/app\ndefault/api-2/app',
  });
  const one = liveUpdateSummary({ liveUpdate: { containers: ['docker:0123abcd'], filesCopied: 1, filesDeleted: 0, runs: [], restarted: false, elapsedMs: 1500 } });
  assert.equal(one.label, 'Live update · 1 file synced · 1 container · 1.5s');
  assert.equal(liveUpdateSummary({ error: '', images: [] }), null, 'a full build is not a live update');
});
