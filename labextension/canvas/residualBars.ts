/**
 * Pure layout of the residual stream's stacked bars at one position: the components grouped by
 * where they write (embeddings, each layer's heads, attention bias and MLP, the interventions'
 * edits, the final biases), each group one diverging stacked bar: positive segments stacked
 * right from zero, negative ones left, on one scale shared by every bar. Each bar that ends at a
 * residual row also carries that row's norm and cumulative contribution.
 */
import type { ResidualResult } from '../protocol.generated';

export type SegmentKind = 'embed' | 'pos_embed' | 'head' | 'attn_bias' | 'mlp' | 'edits' | 'bias';

export interface BarSegment {
  /** The component's name in the result (L3.H2, L3.b_O, ln_final.b). */
  name: string;
  /** The graph node a click selects; null for edits (no node wrote them). */
  node: string | null;
  kind: SegmentKind;
  value: number;
  /** Where it starts and ends on the bar's track, 0 (left edge) to 1 (right edge). */
  x0: number;
  x1: number;
}

export interface ResidualBar {
  key: string;
  label: string;
  layer: number | null;
  segments: BarSegment[];
  /** Sum of the segments, of the positive ones, and of the negative ones. */
  total: number;
  positive: number;
  negative: number;
  /** The residual row written once this bar's components are in (embed: L0.resid_pre, layer l:
   * the next resid_pre or the last resid_post), its norm and its cumulative contribution; null
   * for edits and the final biases, except that the final biases' cumulative is the logit
   * (the last row's plus theirs). */
  row: string | null;
  norm: number | null;
  cumulative: number | null;
}

export interface ResidualBars {
  bars: ResidualBar[];
  /** The scale's ends (lo <= 0 <= hi) and where zero sits on the track (0 to 1). */
  lo: number;
  hi: number;
  zero: number;
}

const LAYER = /^L(\d+)\.(H\d+|b_O|mlp)$/;

/** Which bar a component belongs to, its kind and its graph node. */
export function placeComponent(name: string): { bar: string; kind: SegmentKind; node: string | null } {
  const m = LAYER.exec(name);
  if (m) {
    const [, layer, part] = m;
    const kind = part === 'mlp' ? 'mlp' : part === 'b_O' ? 'attn_bias' : 'head';
    return { bar: `L${layer}`, kind, node: kind === 'attn_bias' ? `L${layer}.attn` : name };
  }
  if (name === 'embed' || name === 'pos_embed') {
    return { bar: 'embed', kind: name, node: name };
  }
  if (name === 'edits') {
    return { bar: 'edits', kind: 'edits', node: null };
  }
  return { bar: 'final', kind: 'bias', node: name === 'ln_final.b' ? 'ln_final' : name === 'b_U' ? 'unembed' : null };
}

/** The bars at column `at` of `result` (an index into `result.positions`). */
export function residualBars(result: ResidualResult, at: number): ResidualBars {
  const nLayers = Math.max(0, result.rows.length - 1);
  const rowAt = (r: number): Pick<ResidualBar, 'row' | 'norm' | 'cumulative'> => ({
    row: result.rows[r] ?? null,
    norm: result.norms[r]?.[at] ?? null,
    cumulative: result.cumulative[r]?.[at] ?? null
  });
  const empty = (key: string, label: string, layer: number | null, row: number | null): ResidualBar => ({
    key,
    label,
    layer,
    segments: [],
    total: 0,
    positive: 0,
    negative: 0,
    ...(row === null ? { row: null, norm: null, cumulative: null } : rowAt(row))
  });
  const bars = new Map<string, ResidualBar>([['embed', empty('embed', 'embed', null, 0)]]);
  for (let l = 0; l < nLayers; l++) {
    bars.set(`L${l}`, empty(`L${l}`, `L${l}`, l, l + 1));
  }
  const values = result.contributions[at] ?? [];
  result.components.forEach((name, i) => {
    const place = placeComponent(name);
    if (!bars.has(place.bar)) {
      bars.set(place.bar, empty(place.bar, place.bar, null, null));
    }
    const value = values[i] ?? 0;
    const bar = bars.get(place.bar) as ResidualBar;
    bar.segments.push({ name, node: place.node, kind: place.kind, value, x0: 0, x1: 0 });
    bar.total += value;
    bar[value < 0 ? 'negative' : 'positive'] += value;
  });
  // Edits before the final biases, whatever order the components came in.
  const ordered = [...bars.values()].sort((a, b) => rank(a.key) - rank(b.key));
  // The final biases end the running total where the run's logit is.
  const final = bars.get('final');
  if (final) {
    final.cumulative = result.logit[at] ?? null;
  }
  const lo = Math.min(0, ...ordered.map(b => b.negative));
  const hi = Math.max(0, ...ordered.map(b => b.positive));
  const span = hi - lo > 0 ? hi - lo : 1;
  const x = (v: number): number => (v - (hi - lo > 0 ? lo : -0.5)) / span;
  for (const bar of ordered) {
    let up = 0;
    let down = 0;
    for (const s of bar.segments) {
      const from = s.value < 0 ? down : up;
      const to = from + s.value;
      [s.x0, s.x1] = s.value < 0 ? [x(to), x(from)] : [x(from), x(to)];
      if (s.value < 0) {
        down = to;
      } else {
        up = to;
      }
    }
  }
  return { bars: ordered, lo, hi, zero: x(0) };
}

function rank(key: string): number {
  return key === 'embed' ? -1 : key === 'edits' ? 1e9 : key === 'final' ? 1e9 + 1 : Number(key.slice(1));
}

export interface AxisTick {
  value: number;
  /** Where on the track (0 to 1), and which side of the label sits there. */
  at: number;
  align: 'start' | 'middle' | 'end';
}

/** The scale's labels: its ends, and zero where it leaves them room (the zero line shows it). */
export function axisTicks({ lo, hi, zero }: Pick<ResidualBars, 'lo' | 'hi' | 'zero'>): AxisTick[] {
  const ticks: AxisTick[] = [];
  if (lo < 0) {
    ticks.push({ value: lo, at: 0, align: 'start' });
  }
  if (zero <= 0.001 || zero >= 0.999) {
    ticks.push({ value: 0, at: zero <= 0.001 ? 0 : 1, align: zero <= 0.001 ? 'start' : 'end' });
  } else if (zero > 0.2 && zero < 0.8) {
    ticks.push({ value: 0, at: zero, align: 'middle' });
  }
  if (hi > 0) {
    ticks.push({ value: hi, at: 1, align: 'end' });
  }
  return ticks;
}
