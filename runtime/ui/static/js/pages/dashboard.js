// Dashboard: failures first, then runs by state over time, late runs and what is running.

import { all, api, subscribe } from '../api.js';
import { go } from '../app.js';
import { stackedChart } from '../chart.js';
import {
  ago, debounce, duration, errorBox, FAILED, fmtTime, h, link, runDuration, section, stateBadge,
  table,
} from '../dom.js';

const WINDOWS = {
  '1h': { ms: 3600_000, buckets: 30, label: 'hour' },
  '24h': { ms: 24 * 3600_000, buckets: 24, label: '24 hours' },
  '7d': { ms: 7 * 24 * 3600_000, buckets: 28, label: '7 days' },
};

const runLink = (run) => link(`/runs/${run.id}`, run.name);

function stat(label, n, cls, href) {
  return h('a', { class: `stat ${cls}`, href, dataset: { stat: cls } },
    h('span', { class: 'n' }, String(n)), h('span', { class: 'l' }, label));
}

function count(runs, test) {
  return runs.filter(test).length;
}

function failures(runs, windowKey) {
  const failed = runs.filter((r) => FAILED.has(r.state.type))
    .sort((a, b) => new Date(b.state.timestamp) - new Date(a.state.timestamp));
  if (!failed.length) {
    return section('Failures', h('p', { class: 'empty' }, 'No failed or crashed runs in this window.'));
  }
  const card = section(`Failures (${failed.length})`,
    table([
      { label: 'State', cell: (r) => stateBadge(r.state) },
      { label: 'Run', cell: runLink },
      { label: 'Flow', cell: (r) => r.flow_name },
      { label: 'When', cell: (r) => h('span', { title: r.state.timestamp }, ago(r.state.timestamp)) },
      { label: 'Error', class: 'msg', cell: (r) => r.state.message ?? '' },
    ], failed.slice(0, 10)),
    failed.length > 10
      ? h('p', {}, link(`/runs?state=FAILED&state=CRASHED&since=${windowKey}`, `All ${failed.length} failures →`))
      : null);
  card.classList.add('alert');
  card.id = 'failures';
  return card;
}

function runsTable(runs, empty, extra) {
  return table([
    { label: 'State', cell: (r) => stateBadge(r.state) },
    { label: 'Run', cell: runLink },
    { label: 'Flow', cell: (r) => r.flow_name },
    extra,
  ], runs, { empty });
}

export async function render({ root, query, signal }) {
  const windowKey = WINDOWS[query.get('window')] ? query.get('window') : '24h';
  const span = WINDOWS[windowKey];
  const chips = h('div', { class: 'chips' }, Object.keys(WINDOWS).map((key) => h('button', {
    class: `chip${key === windowKey ? ' on' : ''}`,
    type: 'button',
    onclick: () => go(`/?window=${key}`, { replace: true }),
  }, key)));
  const body = h('div', {});
  root.replaceChildren(
    h('div', { class: 'page-head' },
      h('div', { class: 'grow' }, h('h1', {}, 'Dashboard'),
        h('p', { class: 'subtitle' }, `Flow runs that changed state in the last ${span.label}, failures first.`)),
      chips),
    body);

  const load = async () => {
    const to = Date.now();
    const from = to - span.ms;
    try {
      const [recent, late, running] = await Promise.all([
        all('/api/flow-runs', {
          updated_after: new Date(from).toISOString(), sort: 'updated_desc',
        }, { signal, max: 5000 }),
        api('/api/flow-runs', { params: { state_names: 'Late', limit: 50 }, signal }),
        api('/api/flow-runs', { params: { state_types: 'RUNNING', limit: 50, sort: 'start_time_desc' }, signal }),
      ]);
      const runs = recent.items;
      const is = (type) => (r) => r.state.type === type;
      body.replaceChildren(
        h('div', { class: 'stats' },
          stat('Failed', count(runs, is('FAILED')), 'failed', `/runs?state=FAILED&since=${windowKey}`),
          stat('Crashed', count(runs, is('CRASHED')), 'crashed', `/runs?state=CRASHED&since=${windowKey}`),
          stat('Late now', late.items.length, 'late', '/runs?state=Late'),
          stat('Running now', running.items.length, 'running', '/runs?state=RUNNING'),
          stat('Completed', count(runs, is('COMPLETED')), 'completed', `/runs?state=COMPLETED&since=${windowKey}`),
          stat('Cancelled', count(runs, is('CANCELLED')), 'cancelled', `/runs?state=CANCELLED&since=${windowKey}`),
          stat('All runs', runs.length, 'all', `/runs?since=${windowKey}`)),
        failures(runs, windowKey),
        section('Runs by state', stackedChart(runs, { from, to, count: span.buckets }),
          recent.truncated ? h('p', { class: 'muted small' }, 'Showing the latest 5000 runs.') : null),
        h('div', { class: 'cols' },
          section('Late runs', runsTable(late.items, 'No run is late.',
            { label: 'Due', cell: (r) => h('span', { title: r.expected_start_time }, ago(r.expected_start_time)) })),
          section('Running now', runsTable(running.items, 'Nothing is running.',
            { label: 'For', cell: (r) => duration(runDuration(r)) }))),
        h('p', { class: 'muted small' }, `Updated ${fmtTime(new Date(to).toISOString())}.`),
      );
    } catch (error) {
      if (!signal.aborted) body.replaceChildren(errorBox(error));
    }
  };
  const reload = debounce(load, 700);
  signal.addEventListener('abort', reload.cancel, { once: true });
  await load();
  subscribe('/api/events/stream', { name: 'proctor.flow-run.>' }, {
    signal, onEvent: reload, onOpen: reload,
  });
}
