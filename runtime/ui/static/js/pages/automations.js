// Automations: each with its enabled switch, trigger and actions in words, and its last
// firings with the outcome of every action (read from the engine's report events).

import { api, capabilities, subscribe } from '../api.js';
import {
  debounce, errorBox, fmtTime, gap, h, link, resourceHref, resourceId, section, table, toast,
} from '../dom.js';
import { describeAction, describeTrigger, isoDuration } from '../rules.js';

const REPORTS = 'proctor.automation.>';
const FIRINGS_SHOWN = 5;

// The engine's reports, grouped per automation id and firing (newest first).
export function firingsByAutomation(events) {
  const byAutomation = new Map();
  const entry = (id) => {
    if (!byAutomation.has(id)) byAutomation.set(id, { firings: new Map(), stopped: null, name: null });
    return byAutomation.get(id);
  };
  for (const event of [...events].sort((a, b) => a.occurred.localeCompare(b.occurred))) {
    const id = resourceId(event.resource).replace(/^proctor\.automation\./, '');
    const e = entry(id);
    e.name = event.resource['proctor.resource.name'] ?? e.name;
    const kind = event.event.slice('proctor.automation.'.length);
    if (kind === 'triggered') {
      const firing = e.firings.get(event.id) ?? { actions: [] };
      Object.assign(firing, { id: event.id, occurred: event.occurred, cause: event.payload?.event ?? null });
      e.firings.set(event.id, firing);
    } else if (kind === 'action.executed' || kind === 'action.failed') {
      const firingId = event.payload?.firing_id;
      const firing = e.firings.get(firingId) ?? { id: firingId, occurred: event.occurred, cause: null, actions: [] };
      firing.actions.push({ ok: kind === 'action.executed', ...event.payload });
      e.firings.set(firingId, firing);
    } else if (kind === 'stopped') {
      e.stopped = { occurred: event.occurred, ...event.payload };
    }
  }
  for (const e of byAutomation.values()) {
    e.list = [...e.firings.values()].sort((a, b) => b.occurred.localeCompare(a.occurred));
  }
  return byAutomation;
}

function outcome(action) {
  const label = `${action.action_index + 1}. ${action.action_type}`;
  if (action.ok) {
    const run = action.detail?.flow_run_id;
    return h('div', { class: 'outcome ok' }, `✓ ${label}`, action.attempts > 1 ? ` (attempt ${action.attempts})` : '',
      run ? [' → ', link(`/runs/${run}`, 'its run')] : '');
  }
  return h('div', { class: 'outcome bad' }, `✗ ${label}: ${action.reason ?? 'failed'}`,
    action.message ? h('span', { class: 'muted' }, ` — ${action.message}`) : '');
}

function firingsTable(firings) {
  return table([
    { label: 'When', cell: (f) => h('span', { title: f.occurred }, fmtTime(f.occurred)) },
    {
      label: 'Because of',
      cell: (f) => {
        if (!f.cause) return h('span', { class: 'muted' }, 'schedule or window');
        const id = resourceId(f.cause.resource);
        const href = resourceHref(id);
        return h('span', {}, h('code', {}, f.cause.event), ' on ', href ? link(href, f.cause.resource?.['proctor.resource.name'] ?? id) : id);
      },
    },
    { label: 'Actions', cell: (f) => (f.actions.length ? f.actions.sort((a, b) => a.action_index - b.action_index).map(outcome) : h('span', { class: 'muted' }, 'pending')) },
  ], firings.slice(0, FIRINGS_SHOWN), { empty: 'Has not fired recently.' });
}

async function toggleRoute() {
  const found = await capabilities();
  if (found.has('PATCH /api/automations/{}')) {
    return (a, enabled) => api(`/api/automations/${a.id}`, { method: 'PATCH', body: { enabled } });
  }
  if (found.has('POST /api/automations/{}/pause') && found.has('POST /api/automations/{}/resume')) {
    return (a, enabled) => api(`/api/automations/${a.id}/${enabled ? 'resume' : 'pause'}`, { method: 'POST', body: {} });
  }
  return null;
}

function enabledSwitch(automation, toggle) {
  const button = h('button', {
    type: 'button', class: 'switch', role: 'switch', 'aria-checked': String(automation.enabled),
    'aria-label': `${automation.name} enabled`, title: toggle ? 'Enable or pause' : 'The server offers no route to change this',
    disabled: !toggle, dataset: { automation: automation.name },
  });
  button.addEventListener('click', async () => {
    const next = button.getAttribute('aria-checked') !== 'true';
    button.disabled = true;
    try {
      await toggle(automation, next);
      automation.enabled = next;
      button.setAttribute('aria-checked', String(next));
      button.closest('section').querySelector('.enabled-label').textContent = next ? 'enabled' : 'paused';
      toast(`${automation.name} ${next ? 'enabled' : 'paused'}`, 'ok');
    } catch (error) {
      toast(`Could not change ${automation.name}: ${error.message}`, 'bad');
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

function automationCard(automation, reports, toggle) {
  const definition = automation.automation ?? automation.definition ?? automation;
  const failedRecently = reports?.list.some((f) => f.actions.some((a) => !a.ok));
  const actions = definition.actions ?? [];
  return h('section', { class: `card${failedRecently || reports?.stopped ? ' alert' : ''}`, dataset: { name: automation.name } },
    h('div', { class: 'row' },
      automation.reportedOnly ? null : enabledSwitch(automation, toggle),
      h('h2', { style: { margin: 0 } }, automation.name),
      automation.reportedOnly ? null
        : h('span', { class: 'muted small enabled-label' }, automation.enabled ? 'enabled' : 'paused'),
      (definition.tags ?? []).map((t) => h('span', { class: 'pill' }, t)),
      automation.owner?.startsWith('deployment:') ? h('span', { class: 'pill' }, 'schedule of a deployment') : null,
      reports?.stopped ? h('span', { class: 'pill bad', title: reports.stopped.message }, `stopped: ${reports.stopped.reason}`) : null),
    !automation.enabled && automation.paused_reason ? h('p', { class: 'small muted' }, `Paused: ${automation.paused_reason}`) : null,
    definition.description ? h('p', { class: 'muted' }, definition.description) : null,
    h('div', { class: 'rule' },
      h('p', {}, h('span', { class: 'k' }, 'Trigger: '), describeTrigger(definition.trigger)),
      h('div', {}, h('span', { class: 'k' }, 'Actions:'),
        h('ol', { class: 'actions' }, actions.map((a) => h('li', {}, describeAction(a))))),
      definition.debounce ? h('p', { class: 'small muted' }, `Debounced: fires after ${isoDuration(definition.debounce)} of quiet.`) : null,
      definition.throttle ? h('p', { class: 'small muted' }, `Throttled: at most ${definition.throttle.limit} firings per ${isoDuration(definition.throttle.per)}.`) : null),
    h('h2', { style: { marginTop: '12px' } }, 'Last firings'),
    h('div', { class: 'table-wrap' }, firingsTable(reports?.list ?? [])));
}

export async function render({ root, signal }) {
  root.replaceChildren(h('div', { class: 'page-head' }, h('div', { class: 'grow' }, h('h1', {}, 'Automations'),
    h('p', { class: 'subtitle' }, 'Rules that react to events and clocks, with what they did lately.'))));
  const listed = (await capabilities()).has('GET /api/automations');
  const toggle = await toggleRoute();
  const body = h('div', {});
  root.append(listed ? '' : gap('Automation definitions', 'GET /api/automations'), body);

  const load = async () => {
    try {
      const [automations, reports] = await Promise.all([
        listed ? api('/api/automations', { signal }).then((a) => (Array.isArray(a) ? a : a.items)) : [],
        api('/api/events', { params: { names: REPORTS, limit: 1000 }, signal }),
      ]);
      const byId = firingsByAutomation(reports.items);
      const known = automations.map((a) => ({ ...a, enabled: a.enabled ?? a.definition?.enabled ?? true }));
      // Automations seen only in reports (the list route is missing, or they were deleted).
      const seen = new Set(known.map((a) => String(a.id)));
      const reported = [...byId.entries()].filter(([id]) => !seen.has(id))
        .map(([id, e]) => ({ id, name: e.name ?? id, enabled: true, reportedOnly: true }));
      const cards = [...known, ...reported].map((a) => {
        const card = automationCard(a, byId.get(String(a.id)), a.reportedOnly ? null : toggle);
        if (a.reportedOnly) card.querySelector('.rule').replaceChildren(h('p', { class: 'muted small' }, 'Known from its reports only.'));
        return card;
      });
      cards.sort((a, b) => b.classList.contains('alert') - a.classList.contains('alert'));
      body.replaceChildren(...(cards.length ? cards : [section('No automations',
        h('p', {}, 'Write them in Python and apply them with ', h('code', {}, 'proctor automation apply FILE.py'), '.'))]));
    } catch (error) {
      if (!signal.aborted) body.replaceChildren(errorBox(error));
    }
  };
  await load();
  const reload = debounce(load, 600);
  signal.addEventListener('abort', reload.cancel, { once: true });
  subscribe('/api/events/stream', { name: REPORTS }, { signal, onEvent: reload });
}
