// The single-page app: routes, navigation, the server status, and page lifetimes.
// A page is `render(ctx)` that fills `ctx.root`; `ctx.signal` aborts when the user leaves, so
// its requests, live streams and timers stop with it.

import { forgetToken, token } from './api.js';
import { errorBox, h } from './dom.js';

const ROUTES = [
  [/^\/$/, 'dashboard', () => import('./pages/dashboard.js')],
  [/^\/runs\/?$/, 'runs', () => import('./pages/runs.js')],
  [/^\/runs\/([0-9a-fA-F-]{36})\/?$/, 'runs', () => import('./pages/run.js')],
  [/^\/events\/?$/, 'events', () => import('./pages/events.js')],
  [/^\/automations\/?$/, 'automations', () => import('./pages/automations.js')],
  [/^\/deployments\/?$/, 'deployments', () => import('./pages/deployments.js')],
  [/^\/work-pools\/?$/, 'work-pools', () => import('./pages/pools.js')],
  [/^\/webhooks\/?$/, 'webhooks', () => import('./pages/webhooks.js')],
];

let leaving = null;

async function show() {
  leaving?.abort();
  const controller = new AbortController();
  leaving = controller;
  const root = document.getElementById('main');
  const path = location.pathname;
  const route = ROUTES.find(([pattern]) => pattern.test(path));
  for (const a of document.querySelectorAll('#nav a')) {
    a.classList.toggle('active', a.dataset.nav === route?.[1]);
  }
  if (!route) {
    root.replaceChildren(h('h1', {}, 'Not found'), h('p', {}, `No page at ${path}.`));
    return;
  }
  const [pattern, , load] = route;
  const ctx = {
    root,
    params: pattern.exec(path).slice(1),
    query: new URLSearchParams(location.search),
    signal: controller.signal,
  };
  try {
    const page = await load();
    if (controller.signal.aborted) return;
    root.replaceChildren();
    await page.render(ctx);
  } catch (error) {
    if (controller.signal.aborted || error?.name === 'AbortError') return;
    console.error(error);
    root.replaceChildren(h('h1', {}, 'Something went wrong'), errorBox(error));
  }
}

export function go(href, { replace = false } = {}) {
  history[replace ? 'replaceState' : 'pushState'](null, '', href);
  show();
}

// Keep the page's filters in the address bar without reloading it.
export function setQuery(params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item !== undefined && item !== null && item !== '') query.append(key, item);
    }
  }
  const search = query.toString();
  history.replaceState(null, '', `${location.pathname}${search ? `?${search}` : ''}`);
}

function internal(a, event) {
  if (event.defaultPrevented || event.button !== 0) return false;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return false;
  if (a.target || a.hasAttribute('download') || a.origin !== location.origin) return false;
  const path = a.pathname;
  return !path.startsWith('/api') && !path.startsWith('/docs') && !path.startsWith('/ui/');
}

document.addEventListener('click', (event) => {
  const a = event.target.closest?.('a[href]');
  if (!a || !internal(a, event)) return;
  event.preventDefault();
  if (a.href !== location.href) go(a.pathname + a.search);
});
window.addEventListener('popstate', show);

async function checkServer() {
  const badge = document.getElementById('server-status');
  try {
    const response = await fetch('/ready');
    const body = await response.json();
    badge.className = `status ${response.ok ? 'ok' : 'bad'}`;
    badge.textContent = response.ok ? 'server ready' : (body.error?.message ?? 'not ready');
  } catch {
    badge.className = 'status bad';
    badge.textContent = 'server unreachable';
  }
}

document.getElementById('forget-token').hidden = !token();
document.getElementById('forget-token').addEventListener('click', () => { forgetToken(); show(); });
checkServer();
setInterval(checkServer, 15_000);
show();
