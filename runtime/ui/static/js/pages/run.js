// One flow run: state timeline, parameters, task graph, task runs, live logs, related events,
// and the retry and cancel commands (when the server offers them).

import { api, firstOffered, subscribe } from '../api.js';
import { go } from '../app.js';
import {
  ago, debounce, duration, errorBox, every, FAILED, fmtFull, fmtTime, h, jsonView, link,
  resourceId, runDuration, section, shortId, stateBadge, stateClass, table, TERMINAL, toast,
} from '../dom.js';
import { renderGraph } from '../graph.js';
import { levelSelect, LogView } from '../logs.js';

const CANCEL_ROUTES = ['/api/flow-runs/{}/cancel'];
const RETRY_ROUTES = ['/api/flow-runs/{}/retry'];
const RETRYABLE = new Set(['FAILED', 'CRASHED', 'CANCELLED', 'COMPLETED']);

function facts(run) {
  const rows = [
    ['Id', h('code', {}, run.id)],
    ['Flow', run.flow_name + (run.flow_version ? ` (version ${run.flow_version})` : '')],
    ['Deployment', run.deployment_id
      ? link(`/runs?deployment=${run.deployment_id}`, run.deployment_name ?? shortId(run.deployment_id))
      : '—'],
    ['Work pool', run.work_pool ? `${run.work_pool}${run.work_queue ? ` / ${run.work_queue}` : ''}` : '—'],
    ['Tags', run.tags.length ? run.tags.map((t) => h('span', { class: 'pill' }, t)) : '—'],
    ['Expected start', fmtFull(run.expected_start_time)],
    ['Started', fmtFull(run.start_time)],
    ['Ended', fmtFull(run.end_time)],
    ['Duration', duration(runDuration(run))],
    ['Run count', String(run.run_count)],
  ];
  if (run.retry_of) rows.push(['Retry of', link(`/runs/${run.retry_of}`, shortId(run.retry_of))]);
  if (run.parent_flow_run_id) rows.push(['Parent run', link(`/runs/${run.parent_flow_run_id}`, shortId(run.parent_flow_run_id))]);
  return h('dl', { class: 'facts' }, rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

function timeline(states, run) {
  const now = Date.now();
  const spans = states.map((s, i) => {
    const start = new Date(s.timestamp).getTime();
    const next = states[i + 1];
    const end = next ? new Date(next.timestamp).getTime() : (TERMINAL.has(s.type) ? start : now);
    return { state: s, ms: Math.max(0, end - start) };
  });
  const total = spans.reduce((a, s) => a + s.ms, 0) || 1;
  return h('div', {},
    h('div', { class: 'timeline', role: 'img', 'aria-label': 'State timeline' }, spans.map(({ state, ms }) => h('div', {
      class: `seg bg-${stateClass(state.type, state.name)}`,
      title: `${state.name}: ${duration(ms)}`,
      style: { flexGrow: String(Math.max(ms / total, 0.004)) },
    }))),
    h('ol', { class: 'states' }, spans.map(({ state, ms }) => h('li', {},
      h('span', { class: 'muted', title: state.timestamp }, fmtTime(state.timestamp)),
      h('span', {}, stateBadge(state)),
      h('span', { class: 'muted' }, TERMINAL.has(state.type) && state === states.at(-1) ? '' : duration(ms)),
      h('span', { class: 'msg' }, state.message ?? '')))),
    run.state.type === 'SCHEDULED' && run.expected_start_time
      ? h('p', { class: 'muted small' }, `Due ${ago(run.expected_start_time)}.`) : null);
}

// A command button that asks for a second click before it acts.
function commandButton(label, cls, act) {
  const button = h('button', { type: 'button', class: cls, dataset: { command: label.toLowerCase() } }, label);
  let armed = null;
  button.addEventListener('click', async () => {
    if (!armed) {
      button.textContent = `Confirm ${label.toLowerCase()}`;
      armed = setTimeout(() => { armed = null; button.textContent = label; }, 4000);
      return;
    }
    clearTimeout(armed);
    armed = null;
    button.disabled = true;
    button.textContent = `${label}…`;
    try {
      await act();
    } catch (error) {
      toast(`${label} failed: ${error.message}`, 'bad');
    } finally {
      button.disabled = false;
      button.textContent = label;
    }
  });
  return button;
}

async function commands(run, refresh) {
  const [cancel, retry] = await Promise.all([
    firstOffered('POST', CANCEL_ROUTES), firstOffered('POST', RETRY_ROUTES),
  ]);
  const bar = h('div', { class: 'row' });
  const pathOf = (route) => route.replace('{}', run.id);
  if (retry && RETRYABLE.has(run.state.type)) {
    bar.append(commandButton('Retry', 'secondary', async () => {
      const answer = await api(pathOf(retry), { method: 'POST', body: {} });
      toast('Retry requested', 'ok');
      const next = answer?.id ?? answer?.flow_run_id;
      if (next && next !== run.id) go(`/runs/${next}`);
      else refresh();
    }));
  }
  if (cancel && !TERMINAL.has(run.state.type)) {
    bar.append(commandButton('Cancel', 'danger', async () => {
      await api(pathOf(cancel), { method: 'POST', body: {} });
      toast('Cancel requested', 'ok');
      refresh();
    }));
  }
  if (!retry || !cancel) {
    bar.append(h('span', { class: 'muted small', title: 'The server offers no such route yet' },
      `${[!retry && 'retry', !cancel && 'cancel'].filter(Boolean).join(' and ')} not offered by this server`));
  }
  return bar;
}

function eventRows(events) {
  return table([
    { label: 'When', cell: (e) => h('span', { title: e.occurred }, fmtTime(e.occurred)) },
    { label: 'Event', cell: (e) => link(`/events?id=${e.id}&resource=${encodeURIComponent(resourceId(e.resource))}`, e.event) },
    { label: 'Resource', cell: (e) => e.resource['proctor.resource.name'] ?? resourceId(e.resource) },
  ], events, { empty: 'No events yet.' });
}

// The run; a run just requested (run, retry) may take a moment to be recorded (longer on a
// busy server): wait for it, up to about 30 s. Asked as a listing, which answers an empty page
// rather than a 404 while the run is not there yet; then a last read says why if it never came.
async function firstRead(id, root, signal) {
  for (let attempt = 0; attempt < 40; attempt += 1) {
    const found = await api('/api/flow-runs', { params: { ids: id, limit: 1 }, signal });
    if (found.items.length) return found.items[0];
    if (attempt === 0) root.replaceChildren(h('p', { class: 'muted' }, 'Waiting for the run to be recorded…'));
    await new Promise((resolve) => { setTimeout(resolve, Math.min(250 * (attempt + 1), 1000)); });
  }
  return api(`/api/flow-runs/${id}`, { signal });
}

export async function render({ root, params: [id], signal }) {
  const resource = `proctor.flow-run.${id}`;
  let run = await firstRead(id, root, signal);
  let selected = null;
  const head = h('div', { class: 'page-head' });
  const failure = h('div', {});
  const factsBox = h('div', {});
  const paramsBox = h('div', {});
  const timelineBox = h('div', {});
  const graphBox = h('div', { class: 'graph-wrap' });
  const graphNote = h('p', { class: 'muted small' });
  const tasksBox = h('div', { class: 'table-wrap scroll' });
  const eventsBox = h('div', { class: 'scroll' });
  const logs = new LogView(id, signal);
  const logFilter = h('span', { class: 'muted small' });
  let graph = { nodes: [], edges: [] };

  const drawTasks = () => {
    const members = selected?.group ? new Set(selected.group.map((n) => n.id)) : null;
    const rows = graph.nodes.filter((n) => !members || members.has(n.id))
      .sort((a, b) => (FAILED.has(b.state.type) - FAILED.has(a.state.type))
        || String(a.start_time ?? a.expected_start_time).localeCompare(String(b.start_time ?? b.expected_start_time)));
    tasksBox.replaceChildren(table([
      { label: 'State', cell: (t) => stateBadge(t.state) },
      { label: 'Task run', cell: (t) => t.name },
      { label: 'Task', cell: (t) => h('code', {}, t.task_key) },
      { label: 'Start', cell: (t) => fmtTime(t.start_time) },
      { label: 'Duration', class: 'num', cell: (t) => duration(runDuration(t)) },
      { label: 'Message', class: 'msg', cell: (t) => (FAILED.has(t.state.type) ? t.state.message ?? '' : '') },
    ], rows.slice(0, 500), {
      empty: 'No task runs.',
      rowAttrs: (t) => ({ dataset: { id: t.id }, class: selected?.id === t.id ? 'selected' : '' }),
    }), rows.length > 500 ? h('p', { class: 'muted small' }, `Showing 500 of ${rows.length}.`) : '');
  };
  const select = (item) => {
    selected = item && item.id !== selected?.id ? item : null;
    const task = selected && !selected.group ? selected.node : null;
    logFilter.textContent = task ? `Only task run ${task.name}.` : '';
    logs.setFilter({ task_run_id: task ? task.id : null });
    drawGraph();
    drawTasks();
  };
  const drawGraph = () => {
    if (!graph.nodes.length) {
      graphBox.replaceChildren(h('p', { class: 'empty', style: { padding: '12px' } }, 'This run has no task runs.'));
      return;
    }
    graphBox.replaceChildren(renderGraph(graph, { selected: selected?.id, onSelect: select }));
    graphNote.textContent = `${graph.nodes.length} task runs, ${graph.edges.length} dependencies. Click a task to filter its logs.`;
  };
  let bar = null; // the command buttons, kept while the state is the same (an armed one stays armed)
  let barState = null;
  const drawHead = async () => {
    if (run.state.id !== barState) {
      bar = await commands(run, () => refresh());
      barState = run.state.id;
    }
    head.replaceChildren(
      h('div', { class: 'grow' },
        h('p', { class: 'subtitle' }, link('/runs', 'Flow runs'), ' / ', run.flow_name),
        h('h1', {}, run.name, ' ', stateBadge(run.state))),
      bar);
    failure.replaceChildren(FAILED.has(run.state.type) && run.state.message
      ? h('pre', { class: 'failure-message', role: 'alert' }, run.state.message) : '');
    factsBox.replaceChildren(facts(run));
    paramsBox.replaceChildren(Object.keys(run.parameters).length  // completed as the run starts
      ? jsonView(run.parameters) : h('p', { class: 'empty' }, 'No parameters.'));
  };
  const loadEvents = async () => {
    const [own, related] = await Promise.all([
      api('/api/events', { params: { resource_ids: resource, limit: 50 }, signal }),
      api('/api/events', { params: { related_resource_ids: resource, limit: 50 }, signal }),
    ]);
    const events = [...new Map([...own.items, ...related.items].map((e) => [e.id, e])).values()]
      .sort((a, b) => b.occurred.localeCompare(a.occurred)).slice(0, 50);
    eventsBox.replaceChildren(eventRows(events));
  };
  const refresh = async () => {
    try {
      const [fresh, states, freshGraph] = await Promise.all([
        api(`/api/flow-runs/${id}`, { signal }),
        api(`/api/flow-runs/${id}/states`, { signal }),
        api(`/api/flow-runs/${id}/graph`, { signal }),
      ]);
      run = fresh;
      graph = freshGraph;
      if (selected && !selected.group) selected = { ...selected, node: graph.nodes.find((n) => n.id === selected.id) ?? selected.node };
      await drawHead();
      timelineBox.replaceChildren(timeline(states, run));
      drawGraph();
      drawTasks();
      await Promise.all([loadEvents(), logs.poll()]);
    } catch (error) {
      if (!signal.aborted) toast(error.message, 'bad');
    }
  };

  root.replaceChildren(head, failure,
    h('div', { class: 'cols' }, section('Run', factsBox), section('State timeline', timelineBox)),
    section('Task graph', graphBox, graphNote),
    section('Task runs', tasksBox),
    h('section', { class: 'card' },
      h('div', { class: 'row' }, h('h2', {}, 'Logs'), h('span', { class: 'spacer' }), logFilter,
        levelSelect((level) => logs.setFilter({ min_level: level }))),
      logs.el),
    h('div', { class: 'cols' },
      section('Parameters', paramsBox),
      section('Related events', eventsBox,
        h('p', { class: 'small' }, link(`/events?related=${encodeURIComponent(resource)}`, 'Events of its task runs →'), ' · ',
          link(`/events?resource=${encodeURIComponent(resource)}`, 'State changes →')))));
  await refresh();

  // Live: state events of this run and its task runs (and automations that reacted to them).
  const again = debounce(refresh, 400);
  signal.addEventListener('abort', again.cancel, { once: true });
  const concerns = (event) => resourceId(event.resource) === resource
    || event.related.some((r) => r['proctor.resource.id'] === resource);
  subscribe('/api/events/stream', { name: ['proctor.flow-run.>', 'proctor.task-run.>', 'proctor.automation.>'] }, {
    signal, onOpen: again, onEvent: (event) => { if (concerns(event)) again(); },
  });
  // Logs are not events: follow them by polling while the run may still write some. A state
  // event can reach the page before the recorder has stored it: while the run is not over,
  // read it again on the same beat, so the page never stays on a state the run has left.
  let quietPolls = 0;
  every(1500, async () => {
    if (!TERMINAL.has(run.state.type)) {  // redraw only on a new state (keeps armed buttons)
      const fresh = await api(`/api/flow-runs/${id}`, { signal }).catch(() => null);
      if (fresh && fresh.state.id !== run.state.id) again();
    }
    if (TERMINAL.has(run.state.type) && quietPolls > 3) return;
    const added = await logs.poll().catch(() => 0);
    quietPolls = added ? 0 : quietPolls + 1;
  }, signal);
}
