// The task graph of a flow run, drawn as a layered DAG in SVG (left to right).
//
// Layout: (1) layers by longest path from the sources, so every edge points right; (2) many
// runs of one task in one layer (a .map) collapse into a group node with state counts;
// (3) a few down/up sweeps order each layer by the barycentre of its neighbours, which
// removes most crossings; (4) layers are centred vertically. Long edges are drawn as curves
// across the layers in between (no dummy nodes: good enough for flow graphs).

import { duration, h, runDuration, stateClass, STATE_TYPES } from './dom.js';

const NODE_W = 184;
const NODE_H = 42;
const GAP_X = 64;
const GAP_Y = 14;
const PAD = 16;
const GROUP_AT = 6;
const SWEEPS = 4;

function startOf(node) {
  return new Date(node.start_time ?? node.expected_start_time ?? 0).getTime();
}

function layers(ids, preds, succs) {
  const indegree = new Map(ids.map((id) => [id, preds.get(id).size]));
  const layer = new Map(ids.map((id) => [id, 0]));
  const queue = ids.filter((id) => indegree.get(id) === 0);
  for (let i = 0; i < queue.length; i += 1) {
    const id = queue[i];
    for (const next of succs.get(id)) {
      layer.set(next, Math.max(layer.get(next), layer.get(id) + 1));
      indegree.set(next, indegree.get(next) - 1);
      if (indegree.get(next) === 0) queue.push(next);
    }
  }
  return layer; // nodes on a cycle (never expected) keep the layer their known inputs gave
}

function sweep(columns, neighbours) {
  const position = new Map();
  const place = () => columns.forEach((col) => col.forEach((item, i) => {
    position.set(item.id, (i + 0.5) / col.length);
  }));
  place();
  for (let round = 0; round < SWEEPS; round += 1) {
    const downward = round % 2 === 0;
    const order = downward ? columns.keys() : [...columns.keys()].reverse();
    for (const index of order) {
      const col = columns[index];
      const centre = new Map(col.map((item) => {
        const around = [...neighbours(item, downward)].map((id) => position.get(id));
        const mean = around.length ? around.reduce((a, b) => a + b, 0) / around.length : position.get(item.id);
        return [item.id, mean];
      }));
      col.sort((a, b) => centre.get(a.id) - centre.get(b.id));
      col.forEach((item, i) => position.set(item.id, (i + 0.5) / col.length));
    }
  }
}

// Positions of the graph's items (task runs, or groups of them) and the edges between them.
export function layout(graph) {
  const nodes = new Map(graph.nodes.map((n) => [n.id, n]));
  const ids = [...nodes.keys()];
  const preds = new Map(ids.map((id) => [id, new Set()]));
  const succs = new Map(ids.map((id) => [id, new Set()]));
  const kinds = new Map();
  for (const e of graph.edges) {
    if (!nodes.has(e.upstream_id) || !nodes.has(e.downstream_id)) continue;
    preds.get(e.downstream_id).add(e.upstream_id);
    succs.get(e.upstream_id).add(e.downstream_id);
    const key = `${e.upstream_id}>${e.downstream_id}`;
    if (kinds.get(key) !== 'input') kinds.set(key, e.kind);
  }
  const layerOf = layers(ids, preds, succs);

  // Items: one per task run, or one per (layer, task) when that task ran many times there.
  const byLayerTask = new Map();
  for (const id of ids) {
    const key = `${layerOf.get(id)}|${nodes.get(id).task_key}`;
    if (!byLayerTask.has(key)) byLayerTask.set(key, []);
    byLayerTask.get(key).push(nodes.get(id));
  }
  const itemOf = new Map();
  const items = [];
  for (const [key, members] of byLayerTask) {
    members.sort((a, b) => startOf(a) - startOf(b));
    const layer = layerOf.get(members[0].id);
    const groups = members.length > GROUP_AT ? [members] : members.map((m) => [m]);
    for (const group of groups) {
      const item = group.length > 1
        ? { id: `group:${key}`, group, layer, first: startOf(group[0]) }
        : { id: group[0].id, node: group[0], layer, first: startOf(group[0]) };
      items.push(item);
      group.forEach((m) => itemOf.set(m.id, item));
    }
  }
  const itemEdges = new Map();
  for (const [key, kind] of kinds) {
    const [up, down] = key.split('>');
    const from = itemOf.get(up);
    const to = itemOf.get(down);
    if (from === to) continue;
    const edgeKey = `${from.id}>${to.id}`;
    if (itemEdges.get(edgeKey)?.kind !== 'input') itemEdges.set(edgeKey, { from, to, kind });
  }
  const into = new Map(items.map((i) => [i.id, new Set()]));
  const out = new Map(items.map((i) => [i.id, new Set()]));
  for (const { from, to } of itemEdges.values()) {
    out.get(from.id).add(to.id);
    into.get(to.id).add(from.id);
  }

  const depth = Math.max(0, ...items.map((i) => i.layer)) + 1;
  const columns = Array.from({ length: depth }, () => []);
  for (const item of items.sort((a, b) => a.first - b.first)) columns[item.layer].push(item);
  sweep(columns, (item, downward) => (downward ? into : out).get(item.id));

  const tallest = Math.max(1, ...columns.map((c) => c.length));
  const height = PAD * 2 + tallest * NODE_H + (tallest - 1) * GAP_Y;
  columns.forEach((col, layer) => {
    const used = col.length * NODE_H + (col.length - 1) * GAP_Y;
    const top = (height - used) / 2;
    col.forEach((item, i) => {
      item.x = PAD + layer * (NODE_W + GAP_X);
      item.y = top + i * (NODE_H + GAP_Y);
    });
  });
  const width = PAD * 2 + depth * NODE_W + (depth - 1) * GAP_X;
  return { items, edges: [...itemEdges.values()], width, height };
}

function fit(text, chars) {
  return text.length > chars ? `${text.slice(0, chars - 1)}…` : text;
}

function worst(group) {
  const types = new Set(group.map((n) => n.state.type));
  return STATE_TYPES.find((t) => types.has(t)) ?? 'PENDING';
}

function taskName(node) {
  const key = node.task_key ?? node.name;
  return key.split(/[.:]/).pop() || node.name;
}

function nodeView(item, selected) {
  const g = h('svg:g', {
    class: `node${selected ? ' selected' : ''}`,
    transform: `translate(${item.x},${item.y})`,
    dataset: { id: item.id },
    tabindex: 0,
    role: 'button',
  });
  let title;
  let label;
  let sub;
  let cls;
  if (item.group) {
    const counts = new Map();
    for (const n of item.group) counts.set(n.state.type, (counts.get(n.state.type) ?? 0) + 1);
    const parts = STATE_TYPES.filter((t) => counts.has(t)).map((t) => `${counts.get(t)} ${t.toLowerCase()}`);
    cls = stateClass(worst(item.group));
    label = `${taskName(item.group[0])} ×${item.group.length}`;
    sub = parts.join(' · ');
    title = `${label}\n${sub}`;
  } else {
    const n = item.node;
    cls = stateClass(n.state.type, n.state.name);
    label = n.name;
    sub = `${n.state.name} · ${duration(runDuration(n))}`;
    title = `${n.name} (${n.task_key})\n${n.state.name}${n.state.message ? `: ${n.state.message}` : ''}`;
  }
  g.append(
    h('svg:title', {}, title),
    h('svg:rect', { class: 'box', width: NODE_W, height: NODE_H, rx: 6 }),
    h('svg:rect', { class: `s-${cls}`, width: 5, height: NODE_H, rx: 2 }),
    h('svg:text', { x: 14, y: 17 }, fit(label, 24)),
    h('svg:text', { x: 14, y: 33, class: 'sub' }, fit(sub, 28)),
  );
  return g;
}

function edgeView(edge) {
  const x1 = edge.from.x + NODE_W;
  const y1 = edge.from.y + NODE_H / 2;
  const x2 = edge.to.x;
  const y2 = edge.to.y + NODE_H / 2;
  const bend = Math.max(24, (x2 - x1) / 2);
  return h('svg:path', {
    class: `edge${edge.kind === 'wait_for' ? ' wait' : ''}`,
    d: `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2 - 6},${y2}`,
    'marker-end': 'url(#arrow)',
    dataset: { from: edge.from.id, to: edge.to.id },
  });
}

// The graph as an SVG element; `onSelect(item)` gets the clicked task run or group.
export function renderGraph(graph, { selected = null, onSelect = () => {} } = {}) {
  const { items, edges, width, height } = layout(graph);
  const svg = h('svg:svg', {
    class: 'graph', width, height, viewBox: `0 0 ${width} ${height}`,
    role: 'img', 'aria-label': `Task graph: ${graph.nodes.length} task runs`,
  });
  svg.append(h('svg:defs', {}, h('svg:marker', {
    id: 'arrow', viewBox: '0 0 10 10', refX: 4, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto',
  }, h('svg:path', { d: 'M0,0 L10,5 L0,10 z', fill: '#94a3b8' }))));
  const edgeLayer = h('svg:g', {}, edges.map(edgeView));
  svg.append(edgeLayer);
  const byId = new Map(items.map((i) => [i.id, i]));
  for (const item of items) {
    const isSelected = item.id === selected || item.group?.some((n) => n.id === selected);
    svg.append(nodeView(item, isSelected));
  }
  const pick = (event) => {
    const g = event.target.closest?.('g.node');
    if (!g) return;
    if (event.type === 'keydown' && event.key !== 'Enter' && event.key !== ' ') return;
    event.preventDefault();
    onSelect(byId.get(g.dataset.id));
  };
  svg.addEventListener('click', pick);
  svg.addEventListener('keydown', pick);
  svg.addEventListener('mouseover', (event) => {
    const id = event.target.closest?.('g.node')?.dataset.id;
    for (const path of edgeLayer.children) {
      path.classList.toggle('hot', Boolean(id) && (path.dataset.from === id || path.dataset.to === id));
    }
  });
  return svg;
}
