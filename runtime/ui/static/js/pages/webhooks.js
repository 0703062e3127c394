// Webhooks: where senders POST, how requests are verified, and the last deliveries and
// rejections of each (rejections first in the summary).

import { all, api, offers, subscribe } from '../api.js';
import {
  ago, debounce, errorBox, fmtTime, gap, h, link, section, table, toast,
} from '../dom.js';

const PRESETS = {
  github: 'GitHub (X-Hub-Signature-256)',
  stripe: 'Stripe (Stripe-Signature)',
  slack: 'Slack (X-Slack-Signature v0)',
  standard: 'Standard Webhooks',
  'shared-secret': 'Shared secret header',
  none: 'None (unauthenticated)',
};

function copyButton(text) {
  return h('button', {
    type: 'button', class: 'secondary', title: 'Copy the URL',
    onclick: async () => {
      try {
        await navigator.clipboard.writeText(text);
        toast('URL copied', 'ok');
      } catch {
        toast(text);
      }
    },
  }, 'Copy');
}

function deliveriesTable(deliveries) {
  return table([
    { label: 'When', cell: (d) => h('span', { title: d.occurred }, fmtTime(d.occurred)) },
    {
      label: 'Outcome',
      cell: (d) => (d.outcome === 'accepted'
        ? h('span', { class: 'pill on' }, 'accepted')
        : h('span', { class: 'pill bad' }, `rejected ${d.status ?? ''}`.trim())),
    },
    { label: 'Event', cell: (d) => link(`/events?id=${d.event_id}&name=${encodeURIComponent(d.event)}`, h('code', {}, d.event)) },
    { label: 'Delivery id', cell: (d) => (d.delivery_id ? h('code', {}, d.delivery_id) : '—') },
    { label: 'Reason', class: 'msg', cell: (d) => (d.reason ? `${d.reason}: ${d.message ?? ''}` : '') },
  ], deliveries, { empty: 'No deliveries yet.' });
}

function webhookCard(hook, deliveries) {
  const url = new URL(hook.url_path, location.origin).href;
  const rejected = deliveries.filter((d) => d.outcome === 'rejected').length;
  const card = h('section', { class: `card${rejected ? ' alert' : ''}`, dataset: { slug: hook.slug } },
    h('div', { class: 'row' },
      h('h2', {}, hook.slug),
      h('span', { class: `pill ${hook.enabled ? 'on' : 'off'}` }, hook.enabled ? 'enabled' : 'disabled'),
      h('span', { class: `pill${hook.preset === 'none' ? ' warn' : ''}` }, PRESETS[hook.preset] ?? hook.preset),
      rejected ? h('span', { class: 'pill bad' }, `${rejected} of the last ${deliveries.length} rejected`) : null),
    hook.description ? h('p', { class: 'muted' }, hook.description) : null,
    h('dl', { class: 'facts' },
      h('dt', {}, 'URL'), h('dd', { class: 'row' }, h('code', {}, `POST ${url}`), copyButton(url)),
      h('dt', {}, 'Event'), h('dd', {}, hook.event_template?.event
        ? h('code', {}, String(hook.event_template.event)) : h('code', {}, `webhook.${hook.slug}`)),
      hook.keep_headers?.length ? [h('dt', {}, 'Headers kept'), h('dd', {}, hook.keep_headers.join(', '))] : null,
      hook.previous_secret_expires ? [h('dt', {}, 'Previous secret'),
        h('dd', {}, `accepted until ${new Date(hook.previous_secret_expires).toLocaleString()}`)] : null,
      h('dt', {}, 'Created'), h('dd', { title: hook.created }, ago(hook.created))),
    h('h2', { style: { marginTop: '14px' } }, 'Last deliveries'),
    h('div', { class: 'table-wrap' }, deliveriesTable(deliveries)));
  return card;
}

export async function render({ root, signal }) {
  root.replaceChildren(h('div', { class: 'page-head' }, h('div', { class: 'grow' }, h('h1', {}, 'Webhooks'),
    h('p', { class: 'subtitle' }, 'Signed endpoints that turn requests into events.'))));
  if (!(await offers('GET', '/api/webhooks'))) {
    root.append(gap('Webhooks', 'GET /api/webhooks'));
    return;
  }
  const body = h('div', {});
  root.append(body);
  const load = async () => {
    try {
      const { items } = await all('/api/webhooks', {}, { signal, max: 1000 });
      const deliveries = await Promise.all(items.map((hook) => api(
        `/api/webhooks/${encodeURIComponent(hook.slug)}/deliveries`, { params: { limit: 10 }, signal },
      ).catch(() => [])));
      const cards = items.map((hook, i) => webhookCard(hook, deliveries[i]));
      // Webhooks whose recent deliveries were refused first.
      cards.sort((a, b) => b.classList.contains('alert') - a.classList.contains('alert'));
      body.replaceChildren(...(cards.length ? cards : [section('No webhooks',
        h('p', {}, 'Create one with ', h('code', {}, 'proctor webhook create SLUG --preset github'), '.'))]));
    } catch (error) {
      if (!signal.aborted) body.replaceChildren(errorBox(error));
    }
  };
  await load();
  const reload = debounce(load, 600);
  signal.addEventListener('abort', reload.cancel, { once: true });
  subscribe('/api/events/stream', { name: ['webhook.>', 'proctor.webhook.>'] }, { signal, onEvent: reload });
}
