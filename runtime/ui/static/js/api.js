// Talking to the Proctor API: JSON requests, live Server-Sent Events, the bearer token, and
// which routes this server offers (read once from /openapi.json).

const TOKEN_KEY = 'proctor.token';

export class ApiError extends Error {
  constructor(status, message, field = null) {
    super(message);
    this.status = status;
    this.field = field;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
  document.getElementById('forget-token').hidden = true;
}

let pendingPrompt = null;

// Ask the user for a token once, however many requests were refused at the same time.
function askToken(reason) {
  pendingPrompt ??= new Promise((resolve, reject) => {
    const dialog = document.getElementById('token-dialog');
    const input = document.getElementById('token-input');
    document.getElementById('token-reason').textContent = reason;
    input.value = '';
    dialog.addEventListener('close', () => {
      pendingPrompt = null;
      const value = input.value.trim();
      if (dialog.returnValue === 'ok' && value) {
        sessionStorage.setItem(TOKEN_KEY, value);
        document.getElementById('forget-token').hidden = false;
        resolve(value);
      } else {
        reject(new ApiError(401, 'an API token is needed to read this server'));
      }
    }, { once: true });
    dialog.showModal();
    input.focus();
  });
  return pendingPrompt;
}

function headers(extra = {}) {
  const bearer = token();
  return bearer ? { ...extra, Authorization: `Bearer ${bearer}` } : extra;
}

export function url(path, params = {}) {
  const target = new URL(path, location.origin);
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === '') continue;
    for (const item of Array.isArray(value) ? value : [value]) target.searchParams.append(key, item);
  }
  return target;
}

async function errorOf(response) {
  let message = `${response.status} ${response.statusText}`;
  let field = null;
  try {
    const body = await response.json();
    message = body.error?.message ?? body.detail ?? message;
    field = body.error?.field ?? null;
  } catch { /* not JSON */ }
  return new ApiError(response.status, message, field);
}

async function send(path, { method = 'GET', params, body, signal } = {}) {
  for (;;) {
    const init = { method, signal, headers: headers({ Accept: 'application/json' }) };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers['Content-Type'] = 'application/json';
    }
    const response = await fetch(url(path, params), init);
    if (response.status === 401) {
      const refused = await errorOf(response);
      const hadToken = Boolean(token());
      sessionStorage.removeItem(TOKEN_KEY);
      await askToken(hadToken ? `That token was refused (${refused.message}). Try another.`
        : 'This server needs an API token to show its data (a read token is enough).');
      continue;
    }
    if (!response.ok) throw await errorOf(response);
    return response;
  }
}

// One JSON request; ApiError with the server's message on failure.
export async function api(path, options = {}) {
  const response = await send(path, options);
  if (response.status === 204) return null;
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

// Every page of a listing, up to `max` items.
export async function all(path, params = {}, { signal, max = 5000 } = {}) {
  const items = [];
  let pageToken = null;
  do {
    const page = await api(path, {
      params: { ...params, limit: Math.min(1000, max - items.length), page_token: pageToken },
      signal,
    });
    items.push(...page.items);
    pageToken = page.next_page;
  } while (pageToken && items.length < max);
  return { items, truncated: Boolean(pageToken) };
}

const live = new Set();

function showLive() {
  const badge = document.getElementById('live-status');
  const states = [...live].map((s) => s.state);
  badge.hidden = states.length === 0;
  const [cls, text] = states.includes('reconnecting') ? ['warn', 'reconnecting…']
    : states.includes('connecting') ? ['', 'connecting…'] : ['ok', 'live'];
  badge.className = `status ${cls}`;
  badge.textContent = text;
}

const sleep = (ms, signal) => new Promise((resolve) => {
  const timer = setTimeout(resolve, ms);
  signal.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
});

// Live events from an SSE route until `signal` aborts; reconnects with backoff. EventSource
// cannot send a bearer token, so this reads the stream with fetch. `onOpen` runs on every
// (re)connection: pages reload what they show, since events in a gap are not replayed.
export function subscribe(path, params, { signal, onEvent, onOpen = () => {}, onError = () => {} }) {
  const entry = { state: 'connecting' };
  live.add(entry);
  showLive();
  signal.addEventListener('abort', () => { live.delete(entry); showLive(); }, { once: true });
  const setState = (state) => { entry.state = state; showLive(); };
  (async () => {
    let delay = 500;
    while (!signal.aborted) {
      try {
        const response = await send(path, { params, signal });
        setState('live');
        delay = 500;
        onOpen();
        await readEvents(response.body, onEvent);
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof ApiError && error.status < 500) { // refused: retrying will not help
          live.delete(entry);
          showLive();
          onError(error);
          return;
        }
      }
      setState('reconnecting');
      await sleep(delay, signal);
      delay = Math.min(delay * 2, 10_000);
    }
  })();
}

async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart());
      if (data.length) onEvent(JSON.parse(data.join('\n')));
    }
  }
}

let routes = null;

// Which routes the server offers, as "METHOD /path/{}/..." strings (path parameters blanked),
// so pages show what exists and say what does not.
export async function capabilities() {
  routes ??= fetch('/openapi.json').then((r) => r.json()).then((spec) => {
    const found = new Set();
    for (const [path, item] of Object.entries(spec.paths ?? {})) {
      for (const method of Object.keys(item)) {
        found.add(`${method.toUpperCase()} ${path.replace(/\{[^}]+\}/g, '{}')}`);
      }
    }
    return found;
  }).catch(() => new Set());
  return routes;
}

export async function offers(method, path) {
  return (await capabilities()).has(`${method} ${path}`);
}

export async function firstOffered(method, paths) {
  const found = await capabilities();
  return paths.find((path) => found.has(`${method} ${path}`)) ?? null;
}
