/**
 * Notes, read without I/O or DOM: a note's target parsed into what a click on it selects (a
 * node, a token position, a lens cell), the list in a stable reading order, a note's first line
 * (a graph mark's title). The forms are transpector/protocol/notes.py's; the kernel checks them.
 */
import type { GraphSpec, NoteTargetKind, PatchingSweep } from '../protocol.generated';

export interface NoteTarget {
  kind: NoteTargetKind;
  text: string;
  node?: string;
  position?: number;
  /** A lens cell's row, e.g. L3.resid_pre. */
  row?: string;
  sweep?: PatchingSweep;
  layer?: number;
  head?: number;
}

/** One listed note: its target as written, its parts (null: a form the canvas does not know,
 * from a newer kernel say) and its Markdown text. */
export interface NoteItem {
  target: string;
  parsed: NoteTarget | null;
  text: string;
}

/** What a click on a note selects; fields left out stay as they are. `position` null: the
 * last position (the token strip's default). */
export interface NoteSelection {
  node?: string;
  position?: number | null;
  lensCell?: { row: string; position: number };
}

const INT = '(0|-?[1-9][0-9]*)';
const NAT = '(0|[1-9][0-9]*)';
const POSITION = new RegExp(`^pos:${INT}$`);
const LENS = new RegExp(`^lens:(L${NAT}\\.resid_(?:pre|post))@${INT}$`);
const SWEEP = new RegExp(`^sweep:([a-z_]+):L${NAT}(?:\\.H${NAT})?(?:@${INT})?$`);
const NEURON = /^L(0|[1-9][0-9]*)\.mlp\.N(0|[1-9][0-9]*)$/;
const NODE_LAYER = /^L(0|[1-9][0-9]*)\./;

/** A note target's parts (a node for anything without a pos:, lens: or sweep: prefix); null
 * for a prefixed text of no known form (the kernel refuses those). */
export function parseNoteTarget(text: string): NoteTarget | null {
  if (!/^(pos|lens|sweep):/.test(text)) {
    return { kind: 'node', text, node: text };
  }
  let found = POSITION.exec(text);
  if (found) {
    return { kind: 'pos', text, position: Number(found[1]) };
  }
  found = LENS.exec(text);
  if (found) {
    return { kind: 'lens', text, row: found[1], layer: Number(found[2]), position: Number(found[3]) };
  }
  found = SWEEP.exec(text);
  if (found) {
    return {
      kind: 'sweep',
      text,
      sweep: found[1] as PatchingSweep,
      layer: Number(found[2]),
      ...(found[3] !== undefined ? { head: Number(found[3]) } : {}),
      ...(found[4] !== undefined ? { position: Number(found[4]) } : {})
    };
  }
  return null;
}

/** The node a sweep's cell patches: a residual, attention or MLP node of the layer, or a head
 * (a key/value head of grouped-query attention: the first query head that reads it). */
function sweepNode(target: NoteTarget, graph: GraphSpec | null): string {
  const { sweep, layer, head } = target;
  if (head === undefined) {
    const kind = sweep === 'attn_out' ? 'attn' : sweep === 'mlp_out' ? 'mlp' : 'resid_pre';
    return `L${layer}.${kind}`;
  }
  const kv = (sweep === 'k' || sweep === 'v') && graph !== null && graph.n_kv_heads < graph.n_heads;
  if (kv) {
    const reader = graph.nodes.find(n => n.kind === 'head' && n.layer === layer && n.kv_head === head);
    if (reader) {
      return reader.id;
    }
  }
  return `L${layer}.H${head}`;
}

/** A position as the token strip takes it: negative counts from the end of a prompt of
 * `nTokens`; the last token is null (the strip's default). Out of the prompt: as written. */
function stripPosition(position: number, nTokens: number | null): number | null {
  const p = position < 0 && nTokens !== null ? nTokens + position : position;
  return nTokens !== null && p === nTokens - 1 ? null : p;
}

/** What a click on the note of `target` selects (a neuron's note: its MLP node). */
export function noteSelection(target: NoteTarget, graph: GraphSpec | null, nTokens: number | null): NoteSelection {
  switch (target.kind) {
    case 'node': {
      const neuron = NEURON.exec(target.node ?? '');
      return { node: neuron ? `L${neuron[1]}.mlp` : target.node };
    }
    case 'pos':
      return { position: stripPosition(target.position ?? 0, nTokens) };
    case 'lens': {
      const p = target.position ?? 0;
      const position = p < 0 && nTokens !== null ? nTokens + p : p;
      return { lensCell: { row: target.row ?? '', position } };
    }
    case 'sweep':
      return {
        node: sweepNode(target, graph),
        ...(target.position !== undefined ? { position: stripPosition(target.position, nTokens) } : {})
      };
  }
}

/** The sort key of a target: nodes in the graph's order (a neuron after its MLP, by index; a
 * node the graph lacks after the rest), then positions, lens cells by layer, sweep cells by
 * sweep, layer, head and position. Negative positions after non-negative ones. */
function sortKey(target: NoteTarget, order: ReadonlyMap<string, number>): (number | string)[] {
  const pos = (p: number | undefined): number => (p === undefined ? -1 : p < 0 ? 1e9 - p : p);
  switch (target.kind) {
    case 'node': {
      const node = target.node ?? '';
      const neuron = NEURON.exec(node);
      const at = order.get(neuron ? `L${neuron[1]}.mlp` : node);
      const layer = NODE_LAYER.exec(node);
      return [0, at ?? 1e9, neuron ? Number(neuron[2]) : -1, at === undefined && layer ? Number(layer[1]) : 0, node];
    }
    case 'pos':
      return [1, pos(target.position)];
    case 'lens':
      return [2, target.layer ?? 0, target.row?.endsWith('post') ? 1 : 0, pos(target.position)];
    case 'sweep':
      return [3, target.sweep ?? '', target.layer ?? 0, target.head ?? -1, pos(target.position)];
  }
}

function compareKeys(a: (number | string)[], b: (number | string)[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const [x, y] = [a[i] ?? -Infinity, b[i] ?? -Infinity];
    if (x !== y) {
      return typeof x === 'number' && typeof y === 'number' ? x - y : String(x) < String(y) ? -1 : 1;
    }
  }
  return 0;
}

/** Every note of `notes` (target -> text) in reading order: nodes as the graph draws them,
 * then positions, lens cells and sweep cells (see sortKey); a target of no known form last. */
export function orderNotes(notes: Readonly<Record<string, string>>, graph: GraphSpec | null): NoteItem[] {
  const order = new Map((graph?.nodes ?? []).map((n, i) => [n.id, i] as const));
  const keyed = Object.entries(notes).map(([target, text]) => {
    const parsed = parseNoteTarget(target);
    return { item: { target, parsed, text }, key: parsed ? sortKey(parsed, order) : [9] };
  });
  keyed.sort((a, b) => compareKeys(a.key, b.key) || (a.item.target < b.item.target ? -1 : 1));
  return keyed.map(({ item }) => item);
}

/** A note's first non-empty line, trimmed (a graph mark's title). */
export function firstLine(text: string): string {
  return (
    text
      .split('\n')
      .map(line => line.trim())
      .find(line => line !== '') ?? ''
  );
}

/** How the Notes card names a target. */
export function describeTarget(target: NoteTarget): string {
  switch (target.kind) {
    case 'node':
      return target.node ?? target.text;
    case 'pos':
      return `position ${target.position}`;
    case 'lens':
      return target.row !== undefined ? `lens ${target.row} @ ${target.position}` : target.text;
    case 'sweep': {
      if (target.sweep === undefined) {
        return target.text;
      }
      const head = target.head !== undefined ? `.H${target.head}` : '';
      const at = target.position !== undefined ? ` @ ${target.position}` : '';
      return `${target.sweep} sweep L${target.layer}${head}${at}`;
    }
  }
}
