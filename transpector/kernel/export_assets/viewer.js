// The exported view's reader: draws the embedded JSON (id "transpector-data") with plain DOM
// calls, read-only. Hover shows numbers, layers fold, the graph and grids pan with a drag.
(function () {
  'use strict';
  const data = JSON.parse(document.getElementById('transpector-data').textContent);
  const run = data.run;
  const state = data.state;

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === 'text') node.textContent = String(value);
      else node.setAttribute(key, value === true ? '' : String(value));
    }
    for (const child of children || []) if (child) node.appendChild(child);
    return node;
  }
  // Whitespace made visible as on the canvas (␣ a space, ↵ a newline, ⇥ a tab); other invisible
  // characters as their escapes; the empty token as ∅.
  const show = token => {
    const shown = String(token).replace(/ /g, '\u2423').replace(/\n/g, '\u21b5').replace(/\t/g, '\u21e5')
      .replace(/(?! )[\p{Cc}\p{Cf}\p{Z}]/gu, c => `\\u${c.codePointAt(0).toString(16).padStart(4, '0')}`);
    return shown || '\u2205';
  };
  const modelName = name => name.split('/').filter(Boolean).pop() || name;
  const fixed = (x, n) => (x === null || x === undefined ? '–' : Number(x).toFixed(n));
  function shade(value, scale) {
    const v = Math.max(-1, Math.min(1, scale ? value / scale : value));
    const rgb = v >= 0 ? 'var(--pos)' : 'var(--neg)';
    return `rgba(${rgb}, ${Math.abs(v).toFixed(3)})`;
  }
  function section(title, cls, children) {
    return el('section', { class: cls, 'aria-label': title }, [el('h2', { text: title }), ...children]);
  }
  function describe(i) {
    const where = i.positions && i.positions.length ? ` at positions ${i.positions.join(', ')}` : '';
    if (i.kind === 'ablate') return `${i.method || 'zero'}-ablate ${i.node}${where}`;
    if (i.kind === 'isolate') return `isolate ${i.node} (${i.method || 'zero'}-ablate the rest of its layer)${where}`;
    if (i.kind === 'freeze') return `freeze ${i.node} from "${i.prompt}"${where}`;
    if (i.kind === 'steer') return `steer ${i.node} by ${i.scale}${where}`;
    if (i.kind === 'latent') return `${i.action || 'ablate'} latent ${i.latent} of ${i.node}${where}`;
    if (i.kind === 'edit') return `edit ${i.node} (rank-one): "${i.prompt}" \u2192 "${i.target}"`;
    return `patch ${i.node} from ${i.source} on "${i.source_prompt}"${where}`;
  }
  // Drag to pan a scrolling pane.
  function pannable(pane) {
    let start = null;
    pane.addEventListener('mousedown', e => {
      start = { x: e.clientX, y: e.clientY, left: pane.scrollLeft, top: pane.scrollTop };
      pane.classList.add('dragging');
    });
    window.addEventListener('mousemove', e => {
      if (!start) return;
      pane.scrollLeft = start.left - (e.clientX - start.x);
      pane.scrollTop = start.top - (e.clientY - start.y);
    });
    window.addEventListener('mouseup', () => {
      start = null;
      pane.classList.remove('dragging');
    });
    return pane;
  }

  function header() {
    return el('header', {}, [
      el('h1', { text: `Transpector · ${modelName(data.graph.model_name)}`, title: data.graph.model_name }, [el('span', { class: 'badge', text: 'read-only export' })]),
      el('div', { class: 'dim', text: `state version ${state.version} · exported ${data.exported_at} · Transpector ${data.transpector_version}` })
    ]);
  }

  function prompt() {
    const tokens = el('div', { class: 'tokens' }, run.tokens.map((token, p) => {
      const loss = p < run.loss.length ? `; loss of the next token ${fixed(run.loss[p], 3)}` : '';
      return el('span', { 'data-position': p, title: `position ${p}: ${JSON.stringify(token)}${loss}`, text: show(token) });
    }));
    const m = run.metric;
    const metric = el('p', { class: 'metric', 'data-value': m.value, 'data-clean': m.clean }, [
      el('strong', { text: m.label }),
      el('span', { text: ` = ${fixed(m.value, 4)} (clean ${fixed(m.clean, 4)})` })
    ]);
    const last = run.top_k[run.top_k.length - 1] || [];
    const top = el('table', { class: 'topk' }, last.map(t =>
      el('tr', { class: 'topk-item', 'data-token': t.token, 'data-prob': t.prob }, [
        el('td', { class: 'mono', text: JSON.stringify(t.token) }),
        el('td', { text: `${(100 * t.prob).toFixed(2)}%` })
      ])));
    const list = state.interventions.length
      ? el('ul', { class: 'interventions' }, state.interventions.map(i => el('li', { 'data-node-id': i.node, text: describe(i) })))
      : el('p', { class: 'dim', text: 'No interventions.' });
    return section('Prompt and outputs', 'outputs', [
      el('p', { class: 'mono', text: state.prompts[state.active] }), tokens, metric,
      el('h2', { text: 'Next token at the last position' }), top,
      el('h2', { text: 'Interventions' }), list
    ]);
  }

  function graph() {
    const intervened = new Set(state.interventions.map(i => i.node));
    const notes = state.notes || {};
    const biggest = Math.max(1e-9, ...run.head_dla.flat().map(Math.abs));
    const chip = node => {
      const dla = node.head !== null && node.head !== undefined && node.layer !== null
        ? run.head_dla[node.layer][node.head] : null;
      const note = notes[node.id];
      const title = [node.id, dla === null ? '' : `direct logit attribution ${fixed(dla, 4)}`,
        intervened.has(node.id) ? 'intervened' : '', note ? `note: ${note}` : ''].filter(Boolean).join('\n');
      const style = dla === null ? null : `background: ${shade(dla, biggest)}`;
      return el('span', { class: 'node', 'data-node-id': node.id, 'data-intervened': intervened.has(node.id), title, style }, [
        document.createTextNode(node.label),
        note ? el('span', { class: 'mark', text: '✎' }) : null
      ]);
    };
    const byLayer = new Map();
    const outside = [];
    for (const node of data.graph.nodes) {
      if (node.layer === null || node.layer === undefined) outside.push(node);
      else (byLayer.get(node.layer) || byLayer.set(node.layer, []).get(node.layer)).push(node);
    }
    const first = outside.filter(n => !/unembed|ln_final/.test(n.id));
    const last = outside.filter(n => /unembed|ln_final/.test(n.id));
    const layers = [...byLayer.entries()].sort((a, b) => a[0] - b[0]).map(([layer, nodes]) =>
      el('details', { class: 'layer', open: true, 'data-layer': layer }, [
        el('summary', { text: `layer ${layer} (${nodes.length} nodes)` }),
        el('div', { class: 'nodes' }, nodes.map(chip))
      ]));
    return section('Graph', 'graph wide', [
      el('p', { class: 'dim', text: 'Heads are shaded by their direct logit attribution (blue raises, red lowers); a red border is an intervention; ✎ a note. Click a layer to fold it; drag to pan.' }),
      pannable(el('div', { class: 'pane' }, [
        el('div', { class: 'nodes' }, first.map(chip)), ...layers, el('div', { class: 'nodes' }, last.map(chip))
      ]))
    ]);
  }

  function lens() {
    const lens = data.lens;
    if (!lens) return null;
    const head = el('tr', {}, [el('th', {}), ...lens.positions.map(p => el('th', { class: 'mono', text: show(run.tokens[p] ?? String(p)) }))]);
    const rows = lens.layers.map((layer, r) => el('tr', { 'data-row': layer }, [
      el('th', { class: 'mono', text: layer }),
      ...lens.positions.map((p, c) => el('td', {
        'data-position': p, 'data-token': lens.tokens[r][c], 'data-prob': lens.probs[r][c],
        title: `${layer} @ ${p}: ${JSON.stringify(lens.tokens[r][c])} ${(100 * lens.probs[r][c]).toFixed(2)}%`,
        style: `background: ${shade(lens.probs[r][c], 1)}`, text: show(lens.tokens[r][c])
      }))
    ]));
    return section('Logit lens', 'lens wide', [
      el('p', { class: 'dim', text: 'The most likely next token from each layer’s residual stream (hover for its probability).' }),
      pannable(el('div', { class: 'pane' }, [el('table', { class: 'lens' }, [head, ...rows])]))
    ]);
  }

  function heatmap(result) {
    // A patching sweep: values row-major over shape; rows are its first axis.
    const [n, m] = result.shape.length === 1 ? [1, result.shape[0]] : [result.shape[0], result.shape.slice(1).reduce((a, b) => a * b, 1)];
    const values = result.values || result.raw;
    const scale = Math.max(1e-9, ...values.map(Math.abs));
    const rows = [el('tr', {}, [el('th', {}), ...Array.from({ length: m }, (_, j) => el('th', { class: 'dim', text: String(j) }))])];
    for (let i = 0; i < n; i++) {
      rows.push(el('tr', {}, [el('th', { class: 'mono', text: `${result.axes[0]} ${result.layers && result.axes[0] === 'layer' ? result.layers[i] : i}` }),
        ...Array.from({ length: m }, (_, j) => {
          const v = values[i * m + j];
          return el('td', { 'data-cell': `${i},${j}`, 'data-value': v, title: `${result.axes.join(' × ')} [${i}, ${j}]: ${fixed(v, 4)}`, style: `background: ${shade(v, scale)}` });
        })]));
    }
    return pannable(el('div', { class: 'pane' }, [el('table', { class: 'heat' }, rows)]));
  }

  function tools() {
    if (!data.tools.length) return null;
    return section('Tool results', 'tools wide', data.tools.map(call => {
      const given = Object.entries(call.args).filter(([, v]) => v !== null && v !== undefined);
      const args = given.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ');
      const body = call.result === null
        ? el('p', { class: 'dim', text: `Its result (${call.result_bytes} bytes) was too large to keep.` })
        : call.result.values !== undefined && call.result.shape ? heatmap(call.result)
          : el('pre', { text: JSON.stringify(call.result, null, 1) });
      return el('details', { class: 'tool', 'data-tool': call.tool, open: call.result && call.result.shape ? true : null }, [
        el('summary', { text: `${call.tool}(${args}) at state version ${call.state_version}` }), body
      ]);
    }));
  }

  function notes() {
    const entries = Object.entries(state.notes || {});
    if (!entries.length) return null;
    return section('Notes', 'notes', [el('ul', {}, entries.map(([target, text]) =>
      el('li', { 'data-target': target }, [el('code', { text: target }), el('div', { class: 'text', text })])))]);
  }

  document.body.appendChild(header());
  const main = el('main', {}, [prompt(), notes(), graph(), lens(), tools()]);
  document.body.appendChild(main);
  document.body.setAttribute('data-drawn', 'true');
})();
