/**
 * The residual stream's contributions as diverging stacked bars, one row per layer (embeddings
 * first, the interventions' edits and the final biases last): each segment a component (a head,
 * the attention bias, the MLP), positive ones stacked right of the zero line, negative ones
 * left, coloured by kind. Beside each row, the residual row it writes: its cumulative
 * contribution to the logit and its norm. A click on a segment selects its node and centres it
 * on the graph. The layout is `residualBars`' (pure); this only draws it.
 */
import * as React from 'react';

import type { ResidualResult } from '../../protocol.generated';
import { signed } from '../format';
import { BarSegment, ResidualBar, SegmentKind, axisTicks, residualBars } from '../residualBars';

const LEGEND: { kind: SegmentKind; label: string }[] = [
  { kind: 'embed', label: 'embed' },
  { kind: 'pos_embed', label: 'pos_embed' },
  { kind: 'head', label: 'heads' },
  { kind: 'attn_bias', label: 'attn bias' },
  { kind: 'mlp', label: 'MLP' },
  { kind: 'edits', label: 'edits' },
  { kind: 'bias', label: 'final biases' }
];

/** What a bar that is not a layer stands for (its row's tooltip). */
const NAMES: Record<string, string> = {
  embed: 'embeddings (embed, pos_embed)',
  edits: "edits: what the interventions wrote besides the components",
  final: 'final biases (ln_final.b, b_U)'
};

const pct = (x: number): string => `${(x * 100).toFixed(3)}%`;

export function ResidualBars(props: {
  result: ResidualResult;
  at: number;
  selected: string | null;
  onFocus: (node: string) => void;
}): React.ReactElement {
  const { result, at, selected, onFocus } = props;
  const chart = React.useMemo(() => residualBars(result, at), [result, at]);
  const kinds = new Set(chart.bars.flatMap(b => b.segments.filter(s => s.x1 > s.x0).map(s => s.kind)));
  return (
    <div className="jp-Transpector-rbars" role="group" aria-label="Contributions by layer" data-lo={chart.lo} data-hi={chart.hi}>
      <div className="jp-Transpector-rbars-row jp-mod-axis" aria-hidden="true">
        <span />
        <span className="jp-Transpector-rbars-track">
          {axisTicks(chart).map(t => (
            <span key={t.align} className="jp-Transpector-rbars-tick" data-align={t.align} style={{ left: pct(t.at) }}>
              {t.value === 0 ? '0' : signed(t.value, Math.abs(t.value) < 0.1 ? 3 : 2)}
            </span>
          ))}
        </span>
        <span title="The residual's own contribution to the logit once this row's components are in (biases excluded)">cum.</span>
        <span title="The residual's L2 norm once this row's components are in">norm</span>
      </div>
      {chart.bars.map(bar => (
        <Row key={bar.key} bar={bar} zero={chart.zero} selected={selected} onFocus={onFocus} />
      ))}
      <p className="jp-Transpector-rbars-legend">
        {LEGEND.filter(l => kinds.has(l.kind)).map(l => (
          <span key={l.kind}>
            <i data-kind={l.kind} /> {l.label}
          </span>
        ))}
      </p>
    </div>
  );
}

function Row({ bar, zero, selected, onFocus }: { bar: ResidualBar; zero: number; selected: string | null; onFocus: (node: string) => void }): React.ReactElement {
  const what = NAMES[bar.key] ?? (bar.layer === null ? bar.label : `layer ${bar.layer}`);
  const after = bar.row ? `; then ${bar.row}` : bar.key === 'final' ? '; then the logit' : '';
  const about = `${what}: ${signed(bar.total, 3)} (+${bar.positive.toFixed(3)}, ${bar.negative.toFixed(3)})${after}`;
  return (
    <div
      className="jp-Transpector-rbars-row"
      data-bar={bar.key}
      data-bar-total={bar.total}
      data-norm={bar.norm ?? undefined}
      data-cumulative={bar.cumulative ?? undefined}
    >
      <span className="jp-Transpector-rbars-label" title={about}>
        {bar.label}
      </span>
      <span className="jp-Transpector-rbars-track">
        <span className="jp-Transpector-rbars-zero" style={{ left: pct(zero) }} />
        {bar.segments.map((s, i) => (
          <Segment key={s.name} segment={s} odd={i % 2 === 1} selected={s.node !== null && s.node === selected} onFocus={onFocus} />
        ))}
      </span>
      <span className="jp-Transpector-rbars-num">{bar.cumulative === null ? '' : signed(bar.cumulative, 2)}</span>
      <span className="jp-Transpector-rbars-num">{bar.norm === null ? '' : bar.norm >= 100 ? bar.norm.toFixed(0) : bar.norm.toPrecision(3)}</span>
    </div>
  );
}

function Segment({ segment: s, odd, selected, onFocus }: { segment: BarSegment; odd: boolean; selected: boolean; onFocus: (node: string) => void }): React.ReactElement | null {
  if (s.x1 <= s.x0) {
    return null; // nothing to draw or click (its value is in the list below and the row's title)
  }
  const text = `${s.name}: ${signed(s.value, 3)}`;
  const node = s.node;
  const common = {
    className: 'jp-Transpector-rbars-seg',
    'data-component': s.name,
    'data-value': s.value,
    'data-kind': s.kind,
    'data-odd': odd || undefined,
    'data-selected': selected || undefined,
    style: { left: pct(s.x0), width: pct(s.x1 - s.x0) }
  };
  // Edits have no node to select: a plain span, still with its tooltip.
  return node ? (
    <button {...common} title={`${text} (click: select ${node} on the graph)`} aria-label={text} onClick={() => onFocus(node)} />
  ) : (
    <span {...common} title={text} role="img" aria-label={text} />
  );
}
