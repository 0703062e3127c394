// Evaluated in the page by test_the_graph_layout_points_every_edge_forward.
(async () => {
  const { layout } = await import('/ui/js/graph.js');
  const node = (id, key) => ({ id, name: id, task_key: key, state: { type: 'COMPLETED', name: 'Completed' } });
  const nodes = [node('a', 'm.extract'), node('b', 'm.clean'), node('c', 'm.enrich'), node('d', 'm.join'),
    node('z', 'm.report')];
  for (let i = 0; i < 20; i += 1) nodes.push(node(`s${i}`, 'm.square'));
  const edge = (u, v, kind = 'input') => ({ upstream_id: u, downstream_id: v, kind });
  const edges = [edge('a', 'b'), edge('a', 'c'), edge('b', 'd'), edge('c', 'd'), edge('a', 'z', 'wait_for'),
    edge('d', 'z'), edge('outside', 'a')];
  for (let i = 0; i < 20; i += 1) edges.push(edge('a', `s${i}`), edge(`s${i}`, 'z'));
  const { items, edges: drawn, width, height } = layout({ nodes, edges });
  const boxes = items.map((i) => [i.x, i.y]);
  const overlapping = boxes.some(([x, y], i) => boxes.some(([x2, y2], j) => i < j && x === x2 && Math.abs(y - y2) < 42));
  return {
    items: items.map((i) => (i.group ? `group:${i.group.length}` : i.id)).sort(),
    forward: drawn.every((e) => e.from.x < e.to.x),
    edges: drawn.length,
    overlapping,
    inside: items.every((i) => i.x >= 0 && i.y >= 0 && i.x < width && i.y < height),
  };
})
