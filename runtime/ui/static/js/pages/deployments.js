// Deployments: what runs where, on which schedules, when each fires next; pause, resume, run.

import { all, api, capabilities, subscribe } from '../api.js';
import { go } from '../app.js';
import {
  ago, debounce, errorBox, fmtFull, fmtTime, gap, h, link, section, table, toast,
} from '../dom.js';
import { isoDuration, secondsText } from '../rules.js';

const NEXT_SHOWN = 3;

function describeSchedule(s) {
  if (s.cron) return h('span', {}, 'cron ', h('code', {}, s.cron), ` (${s.timezone ?? 'UTC'})`);
  if (s.interval_s) return h('span', {}, `every ${secondsText(s.interval_s)}`);
  if (s.type || s.every) return h('span', {}, `every ${isoDuration(s.every)}`);
  return h('code', {}, JSON.stringify(s));
}

function schedules(deployment) {
  const list = deployment.schedules ?? [];
  if (!list.length) return h('span', { class: 'muted' }, 'none (runs on request)');
  return h('ul', { class: 'plain' }, list.map((s) => h('li', {}, describeSchedule(s),
    s.active === false ? [' ', h('span', { class: 'pill off' }, 'inactive')] : '',
    s.catch_up?.policy ? h('span', { class: 'muted small' }, ` · missed: ${s.catch_up.policy}`) : '')));
}

// The next fire times of a deployment's active schedules, from the server's schedule maths.
async function nextFires(deployment, signal) {
  if (deployment.paused) return [];
  const active = (deployment.schedules ?? []).filter((s) => s.active !== false && (s.cron || s.interval_s));
  const lists = await Promise.all(active.map((s) => api('/ui/next-fires', {
    params: s.cron ? { cron: s.cron, timezone: s.timezone ?? 'UTC', count: NEXT_SHOWN }
      : { interval_s: s.interval_s, anchor: s.anchor ?? undefined, count: NEXT_SHOWN },
    signal,
  }).then((answer) => answer.fires).catch(() => [])));
  return [...new Set(lists.flat())].sort().slice(0, NEXT_SHOWN);
}

function nextCell(deployment, fires) {
  if (deployment.paused) return h('span', { class: 'muted' }, 'paused: none');
  if (!fires.length) return h('span', { class: 'muted' }, '—');
  return h('ul', { class: 'plain next-fires' }, fires.map((t) => h('li', { title: fmtFull(t) },
    ago(t), h('span', { class: 'muted small' }, ` · ${fmtTime(t)}`))));
}

async function commands() {
  const found = await capabilities();
  return {
    pause: found.has('POST /api/deployments/{}/pause') && found.has('POST /api/deployments/{}/resume'),
    run: found.has('POST /api/deployments/{}/runs'),
  };
}

function buttons(deployment, offered, reload) {
  const act = async (what, path, after) => {
    try {
      const answer = await api(path, { method: 'POST', body: {} });
      toast(`${deployment.flow_name}/${deployment.name}: ${what}`, 'ok');
      after(answer);
    } catch (error) {
      toast(`${what} failed: ${error.message}`, 'bad');
    }
  };
  return h('div', { class: 'row' },
    offered.run ? h('button', {
      type: 'button', class: 'secondary', dataset: { command: 'run' },
      onclick: () => act('run requested', `/api/deployments/${deployment.id}/runs`,
        (answer) => go(`/runs/${answer.flow_run_id}`)),
    }, 'Run') : null,
    offered.pause ? h('button', {
      type: 'button', class: 'secondary', dataset: { command: deployment.paused ? 'resume' : 'pause' },
      onclick: () => act(deployment.paused ? 'resumed' : 'paused',
        `/api/deployments/${deployment.id}/${deployment.paused ? 'resume' : 'pause'}`, reload),
    }, deployment.paused ? 'Resume' : 'Pause') : null);
}

function statusPill(d) {
  if (d.paused) return h('span', { class: 'pill warn' }, 'paused');
  if (d.status === 'not_ready') {
    return h('span', { class: 'pill bad', title: 'No live worker serves its queue' }, 'no worker');
  }
  return h('span', { class: 'pill on' }, d.status === 'ready' ? 'ready' : 'active');
}

export async function render({ root, signal }) {
  root.replaceChildren(h('div', { class: 'page-head' }, h('div', { class: 'grow' }, h('h1', {}, 'Deployments'),
    h('p', { class: 'subtitle' }, 'Flows made runnable by a work pool, with their schedules.'))));
  if (!(await capabilities()).has('GET /api/deployments')) {
    root.append(gap('Deployments', 'GET /api/deployments'));
    return;
  }
  const offered = await commands();
  const body = h('div', {});
  root.append(body);
  const load = async () => {
    try {
      const { items } = await all('/api/deployments', {}, { signal, max: 1000 });
      const fires = await Promise.all(items.map((d) => nextFires(d, signal)));
      const rows = items.map((d, i) => ({ d, fires: fires[i] }));
      // Deployments that cannot run (no live worker) first.
      rows.sort((a, b) => (a.d.status === 'not_ready' && !a.d.paused ? 0 : 1) - (b.d.status === 'not_ready' && !b.d.paused ? 0 : 1));
      body.replaceChildren(section(`${items.length} deployment${items.length === 1 ? '' : 's'}`, h('div', { class: 'table-wrap' }, table([
        {
          label: 'Deployment',
          cell: ({ d }) => h('div', {}, h('strong', {}, `${d.flow_name}/${d.name}`),
            h('div', { class: 'muted small' }, h('code', {}, d.entrypoint ?? '')),
            d.tags?.length ? h('div', {}, d.tags.map((t) => h('span', { class: 'pill' }, t))) : null),
        },
        { label: 'Status', cell: ({ d }) => statusPill(d) },
        {
          label: 'Work pool',
          cell: ({ d }) => (d.work_pool ? h('span', {}, link('/work-pools', d.work_pool), d.work_queue ? ` / ${d.work_queue}` : '') : '—'),
        },
        { label: 'Schedules', cell: ({ d }) => schedules(d) },
        { label: 'Next runs', cell: ({ d, fires: f }) => nextCell(d, f) },
        {
          label: 'Limit',
          cell: ({ d }) => (d.concurrency_limit ? `${d.concurrency_limit} (${d.collision_strategy ?? 'enqueue'})` : '—'),
        },
        { label: 'Runs', cell: ({ d }) => link(`/runs?deployment=${d.id}`, 'runs →') },
        { label: '', cell: ({ d }) => buttons(d, offered, load) },
      ], rows, {
        empty: 'No deployments yet: create one with flow.deploy(...) or proctor deploy.',
        rowAttrs: ({ d }) => ({ dataset: { id: d.id, name: `${d.flow_name}/${d.name}` } }),
      }))));
    } catch (error) {
      if (!signal.aborted) body.replaceChildren(errorBox(error));
    }
  };
  await load();
  const reload = debounce(load, 800);
  signal.addEventListener('abort', reload.cancel, { once: true });
  subscribe('/api/events/stream', { name: ['proctor.deployment.>', 'proctor.worker.>'] }, { signal, onEvent: reload });
}
