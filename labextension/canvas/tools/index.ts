/**
 * Every tool card the canvas shows, in order: one line per card. A card reads its tool's
 * answers from `snap.tools` (after-run tools under their name, watched calls under their key)
 * and asks for more through the store (`watch`-ing a tool call re-asks it after every run).
 */
import type * as React from 'react';

import type { CanvasSnapshot, CanvasStore } from '../store';
import { ActivationPatching } from './ActivationPatching';
import { CausalTracing } from './CausalTracing';
import { Composition } from './Composition';
import { EdgeAttribution } from './EdgeAttribution';
import { Generation } from './Generation';
import { KnowledgeEdit } from './KnowledgeEdit';
import { Latents } from './Latents';
import { LogitLens } from './LogitLens';
import { Neurons } from './Neurons';
import { OvCopying } from './OvCopying';
import { QkPositions } from './QkPositions';
import { ResidualStream } from './ResidualStream';
import { SavedRun } from './SavedRun';

export interface ToolCard {
  name: string;
  Card: React.ComponentType<{ store: CanvasStore; snap: CanvasSnapshot }>;
}

export const TOOL_CARDS: ToolCard[] = [
  { name: 'logit_lens', Card: LogitLens },
  { name: 'activation_patching', Card: ActivationPatching },
  { name: 'causal_tracing', Card: CausalTracing },
  { name: 'edge_attribution', Card: EdgeAttribution },
  { name: 'head_composition', Card: Composition },
  { name: 'ov_copying', Card: OvCopying },
  { name: 'qk_positions', Card: QkPositions },
  { name: 'residual_stream', Card: ResidualStream },
  { name: 'neuron_view', Card: Neurons },
  { name: 'latents', Card: Latents },
  { name: 'generation', Card: Generation },
  { name: 'knowledge_edit', Card: KnowledgeEdit },
  { name: 'saved_run', Card: SavedRun }
];
