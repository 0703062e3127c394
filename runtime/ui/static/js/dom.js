// Small DOM and formatting helpers. Text always goes in as text nodes, never as HTML.

const SVG_NS = 'http://www.w3.org/2000/svg';

// h('div', {class: 'x', onclick: f}, 'text', child) — and h('svg:rect', {...}) for SVG.
export function h(tag, attrs = {}, ...children) {
  const svg = tag.startsWith('svg:');
  const el = svg ? document.createElementNS(SVG_NS, tag.slice(4)) : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'style' && typeof value === 'object') Object.assign(el.style, value);
    else if (key === 'class' && !svg) el.className = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export const STATE_TYPES = [
  'FAILED', 'CRASHED', 'RUNNING', 'CANCELLING', 'PENDING', 'SCHEDULED', 'PAUSED', 'CANCELLED',
  'COMPLETED',
];
export const TERMINAL = new Set(['COMPLETED', 'FAILED', 'CRASHED', 'CANCELLED']);
export const FAILED = new Set(['FAILED', 'CRASHED']);

export function stateClass(type, name = '') {
  return name === 'Late' ? 'late' : String(type ?? 'unknown').toLowerCase();
}

export function stateBadge(state) {
  if (!state) return h('span', { class: 'state unknown' }, 'unknown');
  return h('span', {
    class: `state ${stateClass(state.type, state.name)}`,
    title: state.message ?? state.type,
    dataset: { state: state.type },
  }, state.name || titleCase(state.type));
}

export function titleCase(text) {
  const s = String(text ?? '').toLowerCase();
  return s.charAt(0).toUpperCase() + s.slice(1);
}

const pad = (n) => String(n).padStart(2, '0');

export function fmtTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  const now = new Date();
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  if (d.toDateString() === now.toDateString()) return time;
  const month = d.toLocaleString(undefined, { month: 'short' });
  return `${month} ${d.getDate()} ${time}`;
}

export function fmtFull(iso) {
  return iso ? new Date(iso).toLocaleString() : '—';
}

export function duration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '—';
  const s = Math.abs(ms) / 1000;
  if (s < 1) return `${Math.round(Math.abs(ms))}ms`;
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${Math.round(s % 60)}s`;
  const hours = Math.floor(m / 60);
  if (hours < 48) return `${hours}h ${m % 60}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

export function ago(iso, now = Date.now()) {
  if (!iso) return '—';
  const ms = now - new Date(iso).getTime();
  return ms >= 0 ? `${duration(ms)} ago` : `in ${duration(-ms)}`;
}

// A run's duration: start to end, or to now while it runs.
export function runDuration(run, now = Date.now()) {
  if (!run.start_time) return null;
  const end = run.end_time ? new Date(run.end_time).getTime() : now;
  return end - new Date(run.start_time).getTime();
}

export function plural(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export function shortId(id) {
  return String(id ?? '').slice(0, 8);
}

export function link(href, ...children) {
  return h('a', { href }, ...children);
}

// A table from column specs: [{label, cell: (row) => Node|string, class?}].
export function table(columns, rows, { empty = 'Nothing here yet.', rowAttrs = () => ({}) } = {}) {
  if (!rows.length) return h('p', { class: 'empty' }, empty);
  return h('table', { class: 'grid' },
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { class: c.class }, c.label)))),
    h('tbody', {}, rows.map((row) => h('tr', rowAttrs(row),
      columns.map((c) => h('td', { class: c.class }, c.cell(row)))))));
}

// Pretty JSON with keys, strings and numbers coloured, built from text nodes.
export function jsonView(value) {
  const pre = h('pre', { class: 'json' });
  const text = JSON.stringify(value, null, 2) ?? 'null';
  const token = /("(?:\\.|[^"\\])*")(\s*:)?|\b(true|false|null)\b|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g;
  let last = 0;
  for (const match of text.matchAll(token)) {
    pre.append(text.slice(last, match.index));
    const [whole, string, colon, literal, number] = match;
    if (string) {
      pre.append(h('span', { class: colon ? 'j-key' : 'j-str' }, string));
      if (colon) pre.append(colon);
    } else if (literal) pre.append(h('span', { class: 'j-lit' }, literal));
    else if (number) pre.append(h('span', { class: 'j-num' }, number));
    else pre.append(whole);
    last = match.index + whole.length;
  }
  pre.append(text.slice(last));
  return pre;
}

export function section(title, ...children) {
  return h('section', { class: 'card' }, h('h2', {}, title), ...children);
}

export function errorBox(error) {
  return h('div', { class: 'error-box', role: 'alert' }, error?.message ?? String(error));
}

// A note that the server does not offer something (yet).
export function gap(what, route) {
  return h('div', { class: 'gap' },
    h('strong', {}, `${what} are not available on this server. `),
    'It offers no ', h('code', {}, route), ' route yet.');
}

export function toast(message, kind = 'info') {
  const note = h('div', { class: `toast ${kind}` }, message);
  document.getElementById('toasts').append(note);
  setTimeout(() => note.remove(), 5000);
}

// Call `fn` at most once per `ms`, trailing: bursts of live events cause one reload.
export function debounce(fn, ms) {
  let timer = null;
  const wrapped = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}

// setInterval that stops when `signal` aborts.
export function every(ms, fn, signal) {
  const timer = setInterval(fn, ms);
  signal.addEventListener('abort', () => clearInterval(timer), { once: true });
}

export function resourceId(resource) {
  return resource?.['proctor.resource.id'] ?? '';
}

// Where a resource id leads in the UI (flow runs only, for now), or null.
export function resourceHref(id) {
  const run = /^proctor\.flow-run\.([0-9a-f-]{36})$/.exec(id ?? '');
  return run ? `/runs/${run[1]}` : null;
}
