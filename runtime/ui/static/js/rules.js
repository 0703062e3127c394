// Triggers and actions of automations, said in words (from their JSON definitions).

import { h } from './dom.js';

const UNITS = [['D', 'day'], ['H', 'hour'], ['M', 'minute'], ['S', 'second']];

// Seconds in words: 3600 -> "1 hour", 5400 -> "1 hour 30 minutes".
export function secondsText(total) {
  let rest = Math.round(Number(total));
  const parts = [];
  for (const [size, word] of [[86400, 'day'], [3600, 'hour'], [60, 'minute'], [1, 'second']]) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n) parts.push(`${n} ${word}${n === 1 ? '' : 's'}`);
  }
  return parts.length ? parts.join(' ') : `${total} seconds`;
}

// ISO 8601 durations as pydantic writes timedeltas: P1DT2H, PT30S, PT0.5S, -PT1S.
export function isoDuration(text) {
  if (text === null || text === undefined) return null;
  if (typeof text === 'number') return `${text} s`;
  const match = /^(-)?P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?)?$/.exec(text);
  if (!match) return String(text);
  const values = { D: match[2], H: match[3], M: match[4], S: match[5] };
  const parts = UNITS.filter(([u]) => values[u] && Number(values[u]) !== 0)
    .map(([u, word]) => `${Number(values[u])} ${word}${Number(values[u]) === 1 ? '' : 's'}`);
  return parts.length ? parts.join(' ') : '0 seconds';
}

const code = (text) => h('code', {}, text);
const join = (items, word) => items.flatMap((item, i) => (i ? [i === items.length - 1 ? ` ${word} ` : ', ', item] : [item]));

function labels(match) {
  const entries = Object.entries(match ?? {});
  return entries.map(([k, v]) => [code(k), ' = ', code(Array.isArray(v) ? v.join(' | ') : String(v))]);
}

// "for the flow etl" when a related spec names one resource by role; else its labels.
function relatedTo(spec) {
  const { 'proctor.resource.role': role, ...rest } = spec ?? {};
  const keys = Object.keys(rest);
  const value = (v) => code(Array.isArray(v) ? v.join(' | ') : String(v));
  if (role && keys.length === 1 && /^proctor\.resource\.(name|id)$/.test(keys[0])) {
    return [`, for the ${role} `, value(rest[keys[0]])];
  }
  const l = labels(spec);
  return l.length ? [', related to ', ...join(l, 'and')] : [];
}

function eventTrigger(t) {
  const parts = [];
  const names = t.expect?.length ? join(t.expect.map(code), 'or') : ['any event'];
  const n = t.threshold ?? 1;
  const within = isoDuration(t.within);
  if (t.posture === 'proactive') {
    parts.push('When fewer than ', String(n), ' of ', ...names);
    parts.push(' arrive within ', within ?? '—');
    if (t.after?.length) parts.push(' after ', ...join(t.after.map(code), 'or'));
  } else {
    parts.push('When ', ...names, n > 1 ? ` happens ${n} times` : ' happens');
    if (within && within !== '0 seconds') parts.push(' within ', within);
    if (t.after?.length) parts.push(', after ', ...join(t.after.map(code), 'or'));
  }
  const match = labels(t.match);
  if (match.length) parts.push(', for resources with ', ...join(match, 'and'));
  const related = Array.isArray(t.match_related) ? t.match_related : [t.match_related ?? {}];
  for (const spec of related) parts.push(...relatedTo(spec));
  if (t.where) parts.push(', where ', code(t.where));
  if (t.for_each?.length) parts.push(', counted separately for each ', ...join(t.for_each.map(code), 'and'));
  return h('span', {}, ...parts);
}

export function describeTrigger(t) {
  if (!t) return h('span', { class: 'muted' }, 'no trigger');
  switch (t.type) {
    case 'event': return eventTrigger(t);
    case 'cron': return h('span', {}, 'On the schedule ', code(t.cron), ` (${t.timezone ?? 'UTC'})`,
      t.catch_up?.policy ? `; missed slots: ${t.catch_up.policy}` : '');
    case 'interval': return h('span', {}, `Every ${isoDuration(t.every)}`,
      t.anchor ? [' from ', new Date(t.anchor).toLocaleString()] : '');
    case 'compound': {
      const need = t.require === 'all' ? 'all' : t.require === 'any' ? 'any' : `${t.require}`;
      return h('div', {}, `When ${need} of these fire`,
        t.within ? ` within ${isoDuration(t.within)}` : '', ':',
        h('ul', {}, (t.triggers ?? []).map((c) => h('li', {}, describeTrigger(c)))));
    }
    case 'sequence':
      return h('div', {}, 'When these fire in order', t.within ? ` within ${isoDuration(t.within)}` : '', ':',
        h('ol', {}, (t.triggers ?? []).map((c) => h('li', {}, describeTrigger(c)))));
    default: return h('span', {}, code(JSON.stringify(t)));
  }
}

function params(p) {
  const entries = Object.entries(p ?? {});
  return entries.length ? [' with ', code(JSON.stringify(p))] : [];
}

export function describeAction(a) {
  const target = (field, what) => (a[field] ? code(a[field]) : `the ${what} of the event`);
  switch (a.type) {
    case 'run-deployment': return h('span', {}, 'Run deployment ', target('deployment', 'deployment'), ...params(a.parameters));
    case 'retry-flow-run': return h('span', {}, `Retry the flow run (at most ${a.max_attempts ?? '?'} attempts`,
      a.delay ? `, after ${isoDuration(a.delay)}` : '', ')');
    case 'cancel-flow-run': return h('span', {}, 'Cancel ', target('flow_run', 'flow run'));
    case 'change-flow-run-state': return h('span', {}, 'Set ', target('flow_run', 'flow run'), ' to ', code(a.name ?? a.state));
    case 'pause-deployment': return h('span', {}, 'Pause deployment ', target('deployment', 'deployment'));
    case 'resume-deployment': return h('span', {}, 'Resume deployment ', target('deployment', 'deployment'));
    case 'pause-automation': return h('span', {}, 'Pause automation ', a.automation ? code(a.automation) : 'itself');
    case 'resume-automation': return h('span', {}, 'Resume automation ', code(a.automation));
    case 'send-slack-message': return h('span', {}, 'Send a Slack message', a.text ? [': ', code(a.text)] : '');
    case 'call-webhook': return h('span', {}, `Call ${a.method ?? 'POST'} `, code(typeof a.url === 'string' ? a.url : '(secret URL)'));
    case 'emit-event': return h('span', {}, 'Emit ', code(a.event));
    default: return h('span', {}, code(a.type ?? JSON.stringify(a)));
  }
}
