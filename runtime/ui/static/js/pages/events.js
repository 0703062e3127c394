// Events: stored events and the live stream, filtered with the trigger language
// (a.b, a.*, a.>, a.Fail*); the selected event's JSON on the side.

import { api, subscribe } from '../api.js';
import { setQuery } from '../app.js';
import {
  errorBox, fmtFull, fmtTime, h, jsonView, link, plural, resourceHref, resourceId, section,
} from '../dom.js';

const MAX_ROWS = 500;
const BAD = /\.(Failed|Crashed|TimedOut|rejected|failed|stopped)$/;

function splitNames(text) {
  return text.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
}

function detail(event) {
  if (!event) return section('Event', h('p', { class: 'empty' }, 'Select an event to see its JSON.'));
  const id = resourceId(event.resource);
  const href = resourceHref(id);
  return section('Event',
    h('dl', { class: 'facts' },
      h('dt', {}, 'Name'), h('dd', {}, h('code', {}, event.event)),
      h('dt', {}, 'Occurred'), h('dd', {}, fmtFull(event.occurred)),
      h('dt', {}, 'Resource'), h('dd', {}, href ? link(href, id) : h('code', {}, id)),
      h('dt', {}, 'Id'), h('dd', {}, h('code', {}, event.id)),
      event.caused_by ? [h('dt', {}, 'Caused by'), h('dd', {}, h('code', {}, event.caused_by))] : null),
    h('div', { style: { marginTop: '12px' } }, jsonView(event)));
}

export async function render({ root, query, signal }) {
  const filters = {
    name: query.getAll('name').join(' '),
    resource: query.get('resource') ?? '',
    related: query.get('related') ?? '',
  };
  let events = [];
  let selectedId = query.get('id');
  let paused = false;
  let stream = null;
  const rows = h('tbody', {});
  const list = h('table', { class: 'grid event-list' },
    h('thead', {}, h('tr', {}, ['When', 'Event', 'Resource'].map((c) => h('th', {}, c)))), rows);
  const listBox = h('div', { class: 'event-list-box' }, list);
  const side = h('div', { class: 'sticky', id: 'event-detail' });
  const status = h('span', { class: 'muted small', id: 'events-status' });
  const problem = h('div', {});

  const row = (event, fresh) => h('tr', {
    class: [event.id === selectedId ? 'selected' : '', fresh ? 'flash' : ''].join(' ').trim(),
    dataset: { id: event.id, name: event.event },
    onclick: () => {
      selectedId = event.id;
      for (const tr of rows.children) tr.classList.toggle('selected', tr.dataset.id === selectedId);
      side.replaceChildren(detail(event));
      setQuery({ name: splitNames(filters.name), resource: filters.resource, related: filters.related, id: selectedId });
    },
  },
  h('td', { title: event.occurred }, fmtTime(event.occurred)),
  h('td', {}, h('span', { class: `event-name${BAD.test(event.event) ? ' bad' : ''}` }, event.event)),
  h('td', {}, event.resource['proctor.resource.name'] ?? resourceId(event.resource)));

  const draw = () => {
    rows.replaceChildren(...events.map((e) => row(e, false)));
    side.replaceChildren(detail(events.find((e) => e.id === selectedId)));
    status.textContent = `${plural(events.length, 'event')}${paused ? ' (paused)' : ''}`;
  };
  const matchesRelated = (event) => !filters.related
    || event.related.some((r) => r['proctor.resource.id'] === filters.related);

  const start = async () => {
    stream?.abort();
    const controller = new AbortController();
    stream = controller;
    signal.addEventListener('abort', () => controller.abort(), { once: true });
    problem.replaceChildren();
    const names = splitNames(filters.name);
    try {
      const page = await api('/api/events', {
        params: {
          names, resource_ids: filters.resource || undefined,
          related_resource_ids: filters.related || undefined, limit: 100,
        },
        signal: controller.signal,
      });
      events = page.items;
      draw();
    } catch (error) {
      if (!controller.signal.aborted) problem.replaceChildren(errorBox(error));
      return;
    }
    subscribe('/api/events/stream', { name: names, resource_id: filters.resource || undefined }, {
      signal: controller.signal,
      onError: (error) => problem.replaceChildren(errorBox(error)),
      onEvent: (event) => {
        if (paused || !matchesRelated(event) || events.some((e) => e.id === event.id)) return;
        events.unshift(event);
        rows.prepend(row(event, true));
        if (events.length > MAX_ROWS) { events.pop(); rows.lastElementChild.remove(); }
        status.textContent = plural(events.length, 'event');
      },
    });
  };

  const input = (name, placeholder, value, title) => h('input', {
    type: 'text', name, placeholder, value, title, size: 28,
  });
  const nameInput = input('name', 'e.g. proctor.flow-run.Fail* shop.>', filters.name,
    'Event name filters, separated by spaces: a.b, a.* (one token), a.> (the rest), a.Fail* (prefix)');
  const resourceInput = input('resource', 'resource id (prefix* ok)', filters.resource, 'proctor.resource.id');
  const form = h('form', {
    class: 'filters',
    onsubmit: (e) => {
      e.preventDefault();
      filters.name = nameInput.value.trim();
      filters.resource = resourceInput.value.trim();
      selectedId = null;
      setQuery({ name: splitNames(filters.name), resource: filters.resource, related: filters.related });
      start();
    },
  },
  h('label', {}, 'Names', nameInput),
  h('label', {}, 'Resource', resourceInput),
  h('button', { type: 'submit' }, 'Apply'),
  h('button', {
    type: 'button', class: 'secondary', id: 'pause-live',
    onclick: (e) => {
      paused = !paused;
      e.target.textContent = paused ? 'Resume live' : 'Pause live';
      status.textContent = `${plural(events.length, 'event')}${paused ? ' (paused)' : ''}`;
    },
  }, 'Pause live'));

  root.replaceChildren(
    h('div', { class: 'page-head' }, h('div', { class: 'grow' }, h('h1', {}, 'Events'),
      h('p', { class: 'subtitle' }, 'Newest first; new events appear live. Filters use the trigger language.'))),
    h('div', { class: 'card' }, form,
      filters.related ? h('p', { class: 'small' }, 'Related to ', h('code', {}, filters.related), ' · ', link('/events', 'clear')) : null),
    problem,
    h('div', { class: 'split' }, h('div', { class: 'card' }, h('div', { class: 'row' }, status), listBox), side));
  await start();
}
