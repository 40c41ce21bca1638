import { describe, expect, it } from 'vitest';

import type { Experiment, ExperimentInfo } from '../protocol.generated';
import { isTaken, listKey, metricText, missingFromSession, notebookExperiments, otherModel, savedAt } from './experiments';

const info = (name: string, saved_at = '2026-11-30T10:58:07+00:00', version = 3): ExperimentInfo => ({
  name,
  saved_at,
  model_name: 'tiny',
  weights: 'ab'.repeat(32),
  state_version: version
});
const body = (name: string): Experiment => ({ ...info(name), state: {} });

describe('saved experiments', () => {
  it('says when and on what an experiment was saved', () => {
    expect(savedAt(info('a'))).toBe('2026-11-30 10:58 UTC');
    expect(savedAt(info('a', 'yesterday'))).toBe('yesterday');
    expect(otherModel(info('a'), 'tiny')).toBeNull();
    expect(otherModel(info('a'), 'gpt2')).toBe('saved on tiny');
    expect(metricText(null)).toBe('no metric');
    const metric = { spec: { kind: 'top_prob' as const }, label: 'p(top)', value: 0.123456, clean: 0.5, tokens: [] };
    expect(metricText(metric)).toBe('p(top) = 0.1235');
  });

  it('knows taken names, ignoring surrounding spaces', () => {
    expect(isTaken([info('mlp off')], ' mlp off ')).toBe(true);
    expect(isTaken([info('mlp off')], 'mlp')).toBe(false);
  });

  it('imports only what the session lacks, from metadata that may be anything', () => {
    expect(notebookExperiments(undefined)).toEqual([]);
    expect(notebookExperiments({ experiments: 'no' })).toEqual([]);
    const kept = notebookExperiments({ experiments: [body('a'), 7, null, { nameless: 1 }, body('b')] });
    expect(kept.map(e => e.name)).toEqual(['a', 'b']);
    expect(missingFromSession(kept, [info('a')]).map(e => e.name)).toEqual(['b']);
  });

  it('changes its key on a save, an overwrite and a delete', () => {
    const one = listKey([info('a')]);
    expect(listKey([info('a')])).toBe(one);
    expect(listKey([info('a', '2026-11-30T11:00:00+00:00', 5)])).not.toBe(one);
    expect(listKey([info('a'), info('b')])).not.toBe(one);
    expect(listKey([])).not.toBe(one);
  });
});
