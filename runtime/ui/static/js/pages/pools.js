// Work pools: their queues (priority, limits, readiness) and workers (health by heartbeat).

import { all, api, capabilities, subscribe } from '../api.js';
import { ago, debounce, errorBox, every, gap, h, section, table } from '../dom.js';

// A worker is healthy while its last heartbeat is younger than three beat intervals.
export function workerHealth(worker, now = Date.now()) {
  const last = worker.last_heartbeat ?? worker.sent ?? worker.heartbeat;
  if (worker.status && worker.status !== 'online' && worker.status !== 'healthy') return worker.status;
  if (!last) return 'unknown';
  const beat = (worker.heartbeat_s ?? 10) * 1000;
  return now - new Date(last).getTime() <= 3 * beat ? 'healthy' : 'stale';
}

function healthPill(state) {
  const cls = state === 'healthy' || state === 'online' ? 'on' : state === 'unknown' ? 'off' : 'bad';
  return h('span', { class: `pill ${cls}` }, state);
}

function queueStatus(q) {
  if (q.paused || q.status === 'paused') return h('span', { class: 'pill warn' }, 'paused');
  if (q.ready === false || q.status === 'not_ready') {
    return h('span', { class: 'pill bad', title: 'No live worker serves it' }, 'not ready');
  }
  return h('span', { class: 'pill on' }, q.ready === true || q.status === 'ready' ? 'ready' : 'active');
}

function queuesTable(pool) {
  return table([
    { label: 'Queue', cell: (q) => h('code', {}, q.name) },
    { label: 'Priority', class: 'num', cell: (q) => String(q.priority ?? '—') },
    { label: 'Limit', class: 'num', cell: (q) => String(q.concurrency_limit ?? '∞') },
    { label: 'Status', cell: queueStatus },
    { label: 'Workers', class: 'num', cell: (q) => String(q.workers ?? '—') },
  ], [...(pool.queues ?? [])].sort((a, b) => (a.priority ?? 1) - (b.priority ?? 1)), { empty: 'No queues.' });
}

function workersTable(workers) {
  return table([
    { label: 'Worker', cell: (w) => h('div', {}, h('strong', {}, w.name ?? w.id), h('div', { class: 'muted small' }, w.id ?? '')) },
    { label: 'Health', cell: (w) => healthPill(workerHealth(w)) },
    { label: 'Queues', cell: (w) => (w.queues ?? []).map((q) => h('span', { class: 'pill' }, q)) },
    { label: 'Running', class: 'num', cell: (w) => `${w.running ?? 0}${w.limit ? ` / ${w.limit}` : ''}` },
    { label: 'Last heartbeat', cell: (w) => ago(w.last_heartbeat ?? w.sent) },
    { label: 'Started', cell: (w) => ago(w.started) },
  ], workers, { empty: 'No live worker: start one with proctor worker start --pool NAME.' });
}

async function workersOf(pool, found, signal) {
  if (pool.workers) return pool.workers;
  const name = encodeURIComponent(pool.name);
  if (found.has('GET /api/work-pools/{}/workers')) {
    const answer = await api(`/api/work-pools/${name}/workers`, { signal });
    return answer.items ?? answer;
  }
  if (found.has('GET /api/workers')) {
    const answer = await api('/api/workers', { params: { work_pool: pool.name }, signal });
    return (answer.items ?? answer).filter((w) => (w.pool ?? w.work_pool) === pool.name);
  }
  return null;
}

export async function render({ root, signal }) {
  root.replaceChildren(h('div', { class: 'page-head' }, h('div', { class: 'grow' }, h('h1', {}, 'Work pools'),
    h('p', { class: 'subtitle' }, 'Where runs execute: queues, limits and the workers serving them.'))));
  const found = await capabilities();
  if (!found.has('GET /api/work-pools')) {
    root.append(gap('Work pools', 'GET /api/work-pools'));
    return;
  }
  const body = h('div', {});
  root.append(body);
  const load = async () => {
    try {
      const { items } = await all('/api/work-pools', {}, { signal, max: 1000 });
      const workers = await Promise.all(items.map((p) => workersOf(p, found, signal).catch(() => null)));
      const cards = items.map((pool, i) => {
        const list = workers[i];
        const healthy = list?.filter((w) => workerHealth(w) === 'healthy').length ?? 0;
        const trouble = pool.status === 'not_ready' || (list !== null && healthy === 0);
        return h('section', { class: `card${trouble ? ' alert' : ''}`, dataset: { pool: pool.name } },
          h('div', { class: 'row' }, h('h2', { style: { margin: 0 } }, pool.name),
            h('span', { class: 'pill' }, pool.type ?? 'process'),
            pool.paused ? h('span', { class: 'pill warn' }, 'paused') : null,
            pool.status === 'not_ready' ? h('span', { class: 'pill bad', title: 'A queue has no live worker' }, 'not ready') : null,
            list ? h('span', { class: `pill ${healthy ? 'on' : 'bad'}` }, `${healthy} healthy worker${healthy === 1 ? '' : 's'}`) : null,
            pool.concurrency_limit ? h('span', { class: 'pill' }, `limit ${pool.concurrency_limit}`) : null),
          pool.description ? h('p', { class: 'muted' }, pool.description) : null,
          h('div', { class: 'cols', style: { marginTop: '10px' } },
            h('div', {}, h('h2', {}, 'Queues'), queuesTable(pool)),
            h('div', {}, h('h2', {}, 'Workers'), list ? workersTable(list)
              : h('p', { class: 'muted' }, 'This server does not list workers yet.'))));
      });
      cards.sort((a, b) => b.classList.contains('alert') - a.classList.contains('alert'));
      body.replaceChildren(...(cards.length ? cards : [section('No work pools',
        h('p', {}, 'Pools appear when a deployment or a worker names one.'))]));
    } catch (error) {
      if (!signal.aborted) body.replaceChildren(errorBox(error));
    }
  };
  await load();
  const reload = debounce(load, 800);
  signal.addEventListener('abort', reload.cancel, { once: true });
  subscribe('/api/events/stream', { name: ['proctor.worker.>', 'proctor.work-pool.>'] }, { signal, onEvent: reload, onOpen: reload });
  every(15_000, load, signal); // heartbeats are not events: re-read them now and then
}
