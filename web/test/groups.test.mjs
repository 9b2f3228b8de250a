// Tests for label grouping, name filtering and ordering of resources.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { groupResources, matchesNameFilter, orderResources } from '../js/groups.js';

const res = (name, labels = [], status = {}) => ({ metadata: { name, labels: Object.fromEntries(labels.map((l) => [l, l])) }, status });
const disabled = { disableStatus: { state: 'Disabled' } };

const all = [
  res('(Tiltfile)', [], { order: 0 }),
  res('web', ['frontend'], { order: 3 }),
  res('api', ['backend', 'frontend'], { order: 2 }),
  res('db', ['backend', 'team/storage'], { order: 1 }),
  res('tool', [], { order: 4 }),
  res('old', ['backend'], { order: 5, ...disabled }),
  res('pfx', ['team/x'], { order: 6 }),
];

test('groups are alphabetical, then unlabeled, then Tiltfile; multi-label resources appear in each', () => {
  assert.deepEqual(groupResources(all), [
    { label: 'backend', names: ['db', 'api'] },
    { label: 'frontend', names: ['api', 'web'] },
    { label: 'unlabeled', names: ['tool', 'pfx'] },
    { label: 'Tiltfile', names: ['(Tiltfile)'] },
  ]);
});

test('disabled resources are hidden unless asked for, and sort last', () => {
  const g = groupResources(all, { showDisabled: true });
  assert.deepEqual(g[0], { label: 'backend', names: ['db', 'api', 'old'] });
});

test('the name filter matches every word, case-insensitively', () => {
  assert.equal(matchesNameFilter('api-server', 'API'), true);
  assert.equal(matchesNameFilter('api-server', 'api srv'), false);
  assert.equal(matchesNameFilter('api-server', 'ser api'), true);
  assert.deepEqual(groupResources(all, { filter: 'w' }), [{ label: 'frontend', names: ['web'] }]);
});

test('the flat order puts (Tiltfile) first and disabled last', () => {
  assert.deepEqual(orderResources(all), ['(Tiltfile)', 'db', 'api', 'web', 'tool', 'pfx', 'old']);
});
