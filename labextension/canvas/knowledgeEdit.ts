/**
 * The knowledge-edit card's pure parts: which MLP it edits (the selected node's, else one about
 * a seventh of the way up, where facts about a subject tend to be written) and whether an
 * intervention is the edit a report describes.
 */
import type { EditFact, Intervention } from '../protocol.generated';

const IN_MLP = /^L(\d+)\.(mlp|ln2|resid_mid)(\.N\d+)?$/;

export function editedMlp(selected: string | null | undefined, nLayers: number): string {
  const found = IN_MLP.exec(selected ?? '');
  return found ? `L${found[1]}.mlp` : `L${Math.floor(nLayers / 7)}.mlp`;
}

export function sameEdit(i: Intervention, spec: EditFact): boolean {
  return i.kind === 'edit' && i.node === spec.node && i.prompt === spec.prompt && i.subject === spec.subject && i.target === spec.target;
}
