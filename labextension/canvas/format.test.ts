import { describe, expect, it } from 'vitest';

import { describeIntervention, ellipsize, headColor, percent, plural, quoteToken, shade, showToken, signed } from './format';

describe('format', () => {
  it('makes whitespace in tokens visible', () => {
    expect(showToken(' Paris')).toBe('\u2423Paris');
    expect(showToken('\n')).toBe('\u21b5');
    expect(showToken('')).toBe('\u2205');
    expect(showToken('\r\n')).toBe('\\u000d\u21b5');
    expect(showToken('a\u200bb\u00a0')).toBe('a\\u200bb\\u00a0');
  });

  it('keeps the <0x..> bytes of a partial UTF-8 character as they are', () => {
    expect(showToken(' <0xF0><0x9F>')).toBe('\u2423<0xF0><0x9F>');
  });

  it('quotes a token for a tooltip with its invisible characters escaped, as the chips show them', () => {
    expect(quoteToken(' Paris')).toBe('" Paris"');
    expect(quoteToken('a\u200bb\n')).toBe('"a\\u200bb\\n"');
    expect(quoteToken('\u00a0')).toBe('"\\u00a0"');
    expect(quoteToken('<0xF0>')).toBe('"<0xF0>" (bytes of part of a UTF-8 character)');
    expect(quoteToken('x<0x9F>')).toContain('part of a UTF-8 character');
    expect(quoteToken('<0x9')).toBe('"<0x9"');
  });

  it('counts nouns', () => {
    expect(plural(1, 'intervention')).toBe('1 intervention');
    expect(plural(0, 'intervention')).toBe('0 interventions');
    expect(plural(3, 'edge')).toBe('3 edges');
  });

  it('ellipsizes by characters, never inside one', () => {
    expect(ellipsize('<|im_start|>', 8)).toBe('<|im_st\u2026');
    expect(ellipsize('short', 8)).toBe('short');
    expect(ellipsize('\u{1F642}\u{1F642}\u{1F642}', 2)).toBe('\u{1F642}\u2026');
  });

  it('writes probabilities with the digits they need', () => {
    expect(percent(0.7234)).toBe('72%');
    expect(percent(0.025)).toBe('2.5%');
    expect(percent(0.0004)).toBe('<0.1%');
    expect(percent(0.999)).toBe('100%');
  });

  it('signs numbers with a true minus', () => {
    expect(signed(0.0421)).toBe('+0.04');
    expect(signed(-1.26)).toBe('\u22121.3');
    expect(signed(12.6)).toBe('+13');
    expect(signed(-0.5, 3)).toBe('\u22120.500');
  });

  it('spreads head hues evenly for any head count', () => {
    expect(headColor(0, 9)).toBe('hsl(0 60% 52%)');
    expect(headColor(3, 12)).toBe('hsl(90 60% 52%)');
    const hues = Array.from({ length: 32 }, (_, h) => headColor(h, 32));
    expect(new Set(hues).size).toBe(32);
  });

  it('clamps shades to 0..100', () => {
    expect(shade(-1)).toBe(0);
    expect(shade(0.426)).toBe(43);
    expect(shade(3)).toBe(100);
  });

  it('rounds shades to a step', () => {
    expect(shade(0.426, 5)).toBe(45);
    expect(shade(0.424, 5)).toBe(40);
    expect(shade(0.999, 5)).toBe(100);
  });

  it('says what each intervention does', () => {
    expect(describeIntervention({ kind: 'ablate', node: 'L2.H3', method: 'zero', positions: null })).toBe('zero-ablate L2.H3');
    expect(describeIntervention({ kind: 'ablate', node: 'L0.mlp', method: 'mean', positions: [1, 2] })).toBe(
      'mean-ablate L0.mlp at positions 1, 2'
    );
    expect(describeIntervention({ kind: 'isolate', node: 'L1.H0' })).toContain('isolate L1.H0');
    expect(describeIntervention({ kind: 'freeze', node: 'L3.mlp', prompt: 'Hi' })).toBe('freeze L3.mlp from "Hi"');
    expect(
      describeIntervention({ kind: 'patch', node: 'L0.resid_pre', source: 'L0.resid_pre', source_prompt: 'Rome' })
    ).toBe('patch L0.resid_pre from L0.resid_pre on "Rome"');
    expect(describeIntervention({ kind: 'edit', node: 'L4.mlp', prompt: 'The Eiffel Tower is in', subject: 'The Eiffel Tower', target: ' Rome' })).toBe(
      'edit L4.mlp (rank-one): "The Eiffel Tower is in" \u2192 " Rome"'
    );
  });
});
