/**
 * Pure presentation helpers: how tokens, probabilities, interventions and colour scales read.
 */
import type { Intervention, Latent, Steer } from '../protocol.generated';

/** Characters that draw as nothing or as a plain gap (\r, a zero-width or no-break space), but
 * not the plain space. */
const INVISIBLE = /(?! )[\p{Cc}\p{Cf}\p{Z}]/gu;
/** A byte of a token that is only part of a UTF-8 character, as the kernel writes it. */
const PARTIAL_BYTE = /<0x[0-9A-F]{2}>/;

const escapeInvisible = (text: string): string =>
  text.replace(INVISIBLE, c => `\\u${(c.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}`);

/** A token with its whitespace made visible (a leading space matters: " Paris"); any other
 * character that would draw as nothing or as a plain gap is written as its escape, \u200b. A
 * token that is only part of a UTF-8 character comes from the kernel as its valid text plus
 * each stray byte written <0xF0>, and shows so. */
export function showToken(token: string): string {
  const shown = escapeInvisible(token.replace(/ /g, '\u2423').replace(/\n/g, '\u21b5').replace(/\t/g, '\u21e5'));
  return shown || '\u2205';
}

/** Text in quotes for a tooltip: JSON's escapes, and invisible characters escaped as on the chips. */
export function quote(text: string): string {
  return escapeInvisible(JSON.stringify(text));
}

/** A token as `quote` writes it, with a word on <0x..> bytes when it is part of a UTF-8
 * character. */
export function quoteToken(token: string): string {
  const quoted = quote(token);
  return PARTIAL_BYTE.test(token) ? `${quoted} (bytes of part of a UTF-8 character)` : quoted;
}

/** At most `max` characters (code points, so an emoji is never cut in two), the last one an
 * ellipsis when the text was longer. */
export function ellipsize(text: string, max: number): string {
  const chars = Array.from(text);
  return chars.length <= max ? text : `${chars.slice(0, Math.max(0, max - 1)).join('')}\u2026`;
}

/** "1 intervention", "2 interventions". */
export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

export function percent(p: number): string {
  if (p >= 0.995) {
    return '100%';
  }
  if (p >= 0.1) {
    return `${(p * 100).toFixed(0)}%`;
  }
  if (p >= 0.001) {
    return `${(p * 100).toFixed(1)}%`;
  }
  return '<0.1%';
}

/** A signed number; with no `digits`, as many as a small value needs (0.042 -> +0.04). */
export function signed(value: number, digits?: number): string {
  const size = Math.abs(value);
  const places = digits ?? (size >= 10 ? 0 : size >= 1 ? 1 : 2);
  const text = size.toFixed(places);
  return value < 0 ? `\u2212${text}` : `+${text}`;
}

/**
 * Categorical colour of head `head` of `n`: hues spread evenly round the wheel, so it works for
 * any head count; mid lightness and saturation read on light and dark themes alike.
 */
export function headColor(head: number, n: number): string {
  const hue = Math.round((360 * head) / Math.max(n, 1));
  return `hsl(${hue} 60% 52%)`;
}

/** One line that says what an intervention does. */
export function describeIntervention(i: Intervention): string {
  const where = i.positions && i.positions.length > 0 ? ` at positions ${i.positions.join(', ')}` : '';
  switch (i.kind) {
    case 'ablate':
      return `${i.method ?? 'zero'}-ablate ${i.node}${where}`;
    case 'isolate':
      return `isolate ${i.node} (${i.method ?? 'zero'}-ablate the rest of its layer)${where}`;
    case 'freeze':
      return `freeze ${i.node} from "${i.prompt}"${where}`;
    case 'patch':
      return `patch ${i.node} from ${i.source} on "${i.source_prompt}"${where}`;
    case 'steer':
      return `steer ${i.node} by ${i.scale ?? 1} \u00d7 ${describeSteerSource(i.source)}${where}`;
    case 'latent':
      return describeLatent(i, where);
    case 'edit':
      return `edit ${i.node} (rank-one): "${i.prompt}" \u2192 "${i.target}"`;
  }
}

function describeLatent(i: Latent, where: string): string {
  const latent = `latent ${i.latent} of ${i.node}`;
  if (i.action === 'steer') {
    return `steer ${latent} by ${signed(i.scale ?? 0)}${where}`;
  }
  if (i.action === 'patch') {
    return `patch ${latent} from "${i.source_prompt ?? ''}"${where}`;
  }
  return `ablate ${latent}${where}`;
}

function describeSteerSource(s: Steer['source']): string {
  switch (s.kind) {
    case 'mean_diff':
      return `mean of ${s.positive.length} prompts \u2212 mean of ${s.negative.length}`;
    case 'neuron':
      return `the output direction of ${s.neuron}`;
    case 'tensor':
      return `vector "${s.name}"`;
  }
}

/** Share of a theme colour (percent) for a value in [0, 1], for CSS color-mix(); rounded to
 * `step` percent, so a value that moves a little leaves the colour (and the DOM) as it was. */
export function shade(value: number, step = 1): number {
  return Math.round((Math.min(1, Math.max(0, value)) * 100) / step) * step;
}
