// Flow runs by state over time: a stacked bar chart in SVG, failures at the bottom of each bar.

import { h, stateClass } from './dom.js';

const ORDER = ['FAILED', 'CRASHED', 'CANCELLED', 'CANCELLING', 'RUNNING', 'PENDING', 'SCHEDULED',
  'PAUSED', 'COMPLETED'];
const W = 900;
const H = 200;
const LEFT = 34;
const BOTTOM = 22;
const TOP = 8;

function label(ms, spanMs) {
  const d = new Date(ms);
  const hh = String(d.getHours()).padStart(2, '0');
  const mm = String(d.getMinutes()).padStart(2, '0');
  if (spanMs <= 36 * 3600_000) return `${hh}:${mm}`;
  return `${d.toLocaleString(undefined, { month: 'short' })} ${d.getDate()}`;
}

// Count runs per bucket and state type; a run sits in the bucket of the time it entered its
// current state (for finished runs: when they finished).
export function buckets(runs, { from, to, count }) {
  const size = (to - from) / count;
  const bars = Array.from({ length: count }, (_, i) => ({ start: from + i * size, counts: {} }));
  for (const run of runs) {
    const at = new Date(run.state.timestamp).getTime();
    const index = Math.floor((at - from) / size);
    if (index < 0 || index >= count) continue;
    const type = run.state.name === 'Late' ? 'LATE' : run.state.type;
    bars[index].counts[type] = (bars[index].counts[type] ?? 0) + 1;
  }
  return { bars, size };
}

export function stackedChart(runs, { from, to, count = 24 }) {
  const { bars, size } = buckets(runs, { from, to, count });
  const order = ['LATE', ...ORDER];
  const peak = Math.max(1, ...bars.map((b) => Object.values(b.counts).reduce((a, c) => a + c, 0)));
  const plotW = W - LEFT - 4;
  const plotH = H - BOTTOM - TOP;
  const slot = plotW / count;
  const barW = Math.max(2, slot - 3);
  const svg = h('svg:svg', {
    class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img',
    'aria-label': `Flow runs by state, ${runs.length} runs`,
  });
  for (const tick of [0, 0.5, 1]) {
    const y = TOP + plotH * (1 - tick);
    svg.append(
      h('svg:line', { class: 'axis', x1: LEFT, x2: W - 4, y1: y, y2: y }),
      h('svg:text', { x: LEFT - 6, y: y + 4, 'text-anchor': 'end' }, String(Math.round(peak * tick))),
    );
  }
  bars.forEach((bar, i) => {
    const x = LEFT + i * slot + 1.5;
    let y = TOP + plotH;
    for (const type of order) {
      const n = bar.counts[type];
      if (!n) continue;
      const height = (n / peak) * plotH;
      y -= height;
      svg.append(h('svg:rect', {
        class: `s-${stateClass(type === 'LATE' ? 'SCHEDULED' : type, type === 'LATE' ? 'Late' : '')}`,
        x, y, width: barW, height: Math.max(height, 1),
      }, h('svg:title', {}, `${label(bar.start, to - from)}–${label(bar.start + size, to - from)}: ${n} ${type.toLowerCase()}`)));
    }
    if (i % Math.ceil(count / 8) === 0) {
      svg.append(h('svg:text', { x: x + barW / 2, y: H - 6, 'text-anchor': 'middle' }, label(bar.start, to - from)));
    }
  });
  const totals = {};
  for (const bar of bars) for (const [t, n] of Object.entries(bar.counts)) totals[t] = (totals[t] ?? 0) + n;
  const legend = h('div', { class: 'legend' }, order.filter((t) => totals[t]).map((t) => h('span', {},
    h('i', { class: `bg-${t === 'LATE' ? 'late' : stateClass(t)}` }), `${t.toLowerCase()} ${totals[t]}`)));
  return h('div', {}, svg, legend);
}
