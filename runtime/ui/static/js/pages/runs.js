// Flow runs: filter by state, flow, deployment, tag and time; live updates from the event stream.

import { all, api, offers, subscribe } from '../api.js';
import { setQuery } from '../app.js';
import {
  debounce, duration, errorBox, fmtTime, h, link, plural, runDuration, shortId, STATE_TYPES,
  stateBadge, stateClass, table, titleCase, toast,
} from '../dom.js';

const SINCE = { '1h': 3600_000, '24h': 86_400_000, '7d': 7 * 86_400_000, '30d': 30 * 86_400_000 };
const PAGE = 100;

function readFilters(query) {
  return {
    state: query.getAll('state'),
    flow: query.get('flow') ?? '',
    deployment: query.get('deployment') ?? '',
    tag: query.get('tag') ?? '',
    since: query.get('since') ?? '',
    sort: query.get('sort') ?? 'updated_desc',
    q: query.get('q') ?? '',
  };
}

// The API's query parameters for the filters (see FlowRunFilter).
export function toParams(f) {
  const names = f.state.filter((s) => s !== s.toUpperCase());
  const types = f.state.filter((s) => s === s.toUpperCase());
  return {
    state_types: types,
    state_names: names,
    flow_names: f.flow || undefined,
    deployment_ids: f.deployment || undefined,
    tags: f.tag ? f.tag.split(',').map((t) => t.trim()).filter(Boolean) : undefined,
    updated_after: SINCE[f.since] ? new Date(Date.now() - SINCE[f.since]).toISOString() : undefined,
    sort: f.sort,
    name_contains: f.q || undefined,
  };
}

function select(name, value, options, onchange) {
  return h('select', { name, onchange: (e) => onchange(e.target.value) },
    options.map(([v, label]) => h('option', { value: v, selected: v === value }, label)));
}

async function deploymentPicker(filters, apply, signal) {
  if (await offers('GET', '/api/deployments')) {
    try {
      const { items } = await all('/api/deployments', {}, { signal, max: 1000 });
      return select('deployment', filters.deployment,
        [['', 'All deployments'], ...items.map((d) => [d.id, d.flow_name ? `${d.flow_name}/${d.name}` : d.name])],
        (v) => apply({ deployment: v }));
    } catch { /* fall back to an id field */ }
  }
  return h('input', {
    type: 'text', name: 'deployment', placeholder: 'deployment id', value: filters.deployment,
    onchange: (e) => apply({ deployment: e.target.value.trim() }),
  });
}

export async function render({ root, query, signal }) {
  const filters = readFilters(query);
  const flows = await all('/api/flows', {}, { signal, max: 1000 }).catch(() => ({ items: [] }));
  const list = h('div', { class: 'table-wrap' });
  const summary = h('span', { class: 'muted small' });
  const more = h('button', { class: 'secondary', type: 'button', hidden: true });
  let shown = [];
  let nextPage = null;

  const apply = (changes) => {
    Object.assign(filters, changes);
    setQuery(filters);
    load();
  };
  const chips = h('div', { class: 'chips', role: 'group', 'aria-label': 'State' },
    [...STATE_TYPES, 'Late'].map((state) => h('button', {
      type: 'button',
      class: `chip${filters.state.includes(state) ? ' on' : ''}`,
      dataset: { state },
      onclick: (e) => {
        const on = !filters.state.includes(state);
        // Late is a state name (within SCHEDULED): it does not combine with the type chips.
        let next = filters.state.filter((s) => s !== state && (state === 'Late') === (s === 'Late'));
        if (on) next.push(state);
        if (state === 'Late' && on) next = ['Late'];
        for (const chip of e.target.parentElement.children) chip.classList.toggle('on', next.includes(chip.dataset.state));
        apply({ state: next });
      },
    }, state === 'Late' ? 'Late' : titleCase(state))));

  root.replaceChildren(
    h('div', { class: 'page-head' }, h('div', { class: 'grow' }, h('h1', {}, 'Flow runs'),
      h('p', { class: 'subtitle' }, 'Updates live as runs change state.'))),
    h('div', { class: 'card' },
      h('div', { class: 'filters' },
        h('label', {}, 'State', chips),
        h('label', {}, 'Flow', select('flow', filters.flow,
          [['', 'All flows'], ...flows.items.map((f) => [f.name, f.name])], (v) => apply({ flow: v }))),
        h('label', {}, 'Deployment', await deploymentPicker(filters, apply, signal)),
        h('label', {}, 'Tag', h('input', {
          type: 'text', name: 'tag', placeholder: 'a,b (all of)', value: filters.tag,
          onchange: (e) => apply({ tag: e.target.value.trim() }),
        })),
        h('label', {}, 'Changed', select('since', filters.since,
          [['', 'Any time'], ['1h', 'Last hour'], ['24h', 'Last 24 hours'], ['7d', 'Last 7 days'], ['30d', 'Last 30 days']],
          (v) => apply({ since: v }))),
        h('label', {}, 'Order', select('sort', filters.sort,
          [['updated_desc', 'Latest change first'], ['start_time_desc', 'Latest start first'],
            ['expected_start_time_desc', 'Latest expected start first'], ['name_asc', 'By name']],
          (v) => apply({ sort: v }))),
        h('label', {}, 'Name', h('input', {
          type: 'search', name: 'q', placeholder: 'contains…', value: filters.q,
          onchange: (e) => apply({ q: e.target.value.trim() }),
        })))),
    h('div', { class: 'card' }, h('div', { class: 'row' }, summary), list, more));

  const columns = [
    { label: 'State', cell: (r) => stateBadge(r.state) },
    { label: 'Run', cell: (r) => link(`/runs/${r.id}`, r.name) },
    { label: 'Flow', cell: (r) => r.flow_name },
    { label: 'Deployment', cell: (r) => r.deployment_name ?? (r.deployment_id ? shortId(r.deployment_id) : '—') },
    { label: 'Start', cell: (r) => h('span', { title: r.start_time ?? r.expected_start_time ?? '' }, fmtTime(r.start_time ?? r.expected_start_time)) },
    { label: 'Duration', class: 'num', cell: (r) => duration(runDuration(r)) },
    { label: 'Tags', cell: (r) => r.tags.map((t) => h('span', { class: 'pill' }, t)) },
  ];
  const draw = () => {
    list.replaceChildren(table(columns, shown, {
      empty: 'No flow runs match these filters.',
      rowAttrs: (r) => ({ dataset: { id: r.id } }),
    }));
    summary.textContent = `${plural(shown.length, 'run')}${nextPage ? ' (more below)' : ''}`;
    more.hidden = !nextPage;
    more.textContent = 'Load more';
  };
  const fetchPage = (limit, pageToken) => api('/api/flow-runs', {
    params: { ...toParams(filters), limit, page_token: pageToken }, signal,
  });
  const load = async () => {
    try {
      const page = await fetchPage(Math.min(1000, Math.max(PAGE, shown.length)), null);
      shown = page.items;
      nextPage = page.next_page;
      draw();
    } catch (error) {
      if (!signal.aborted) list.replaceChildren(errorBox(error));
    }
  };
  more.addEventListener('click', async () => {
    try {
      const page = await fetchPage(PAGE, nextPage);
      shown = [...shown, ...page.items];
      nextPage = page.next_page;
      draw();
    } catch (error) {
      if (!signal.aborted) toast(error.message, 'bad');
    }
  });
  await load();

  const reload = debounce(load, 600);
  // A state event can reach the page before the recorder has stored its run: read the list
  // once more when the events have been quiet for a while.
  const settle = debounce(load, 3000);
  signal.addEventListener('abort', reload.cancel, { once: true });
  signal.addEventListener('abort', settle.cancel, { once: true });
  subscribe('/api/events/stream', { name: 'proctor.flow-run.>' }, {
    signal,
    onOpen: reload,
    onEvent: (event) => {
      settle();
      const id = event.resource['proctor.resource.id']?.split('.').pop();
      const row = list.querySelector(`tr[data-id="${CSS.escape(id ?? '')}"]`);
      const state = event.payload?.state;
      if (row && state) {
        row.cells[0].replaceChildren(stateBadge(state));
        row.classList.remove('flash');
        void row.offsetWidth; // restart the highlight
        row.classList.add('flash');
        row.dataset.state = stateClass(state.type, state.name);
      }
      reload();
    },
  });
}
