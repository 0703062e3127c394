// A run's logs, followed live: the listing is read from the last full page on, so new lines
// are picked up by polling with the API's opaque page tokens (lines already shown are skipped).

import { api } from './api.js';
import { fmtTime, h } from './dom.js';

const LEVELS = { 10: 'DEBUG', 20: 'INFO', 30: 'WARNING', 40: 'ERROR', 50: 'CRITICAL' };
const LIMIT = 500;
const MAX_SHOWN = 5000;

function levelName(level) {
  return LEVELS[level] ?? `L${level}`;
}

export class LogView {
  constructor(flowRunId, signal) {
    this.flowRunId = flowRunId;
    this.signal = signal;
    this.filter = { task_run_id: null, min_level: 0 };
    this.el = h('div', { class: 'logs', tabindex: 0, 'aria-label': 'Logs' });
    this.reset();
  }

  reset() {
    this.generation = (this.generation ?? 0) + 1;
    this.cursor = null;
    this.seen = new Set();
    this.el.replaceChildren(h('div', { class: 'empty' }, 'No log lines yet.'));
    this.polling = null;
  }

  setFilter(changes) {
    Object.assign(this.filter, changes);
    this.reset();
    return this.poll();
  }

  // Fetch what is new; returns how many lines were added. Concurrent calls share one fetch.
  poll() {
    if (!this.polling) {
      const polling = this.fetchNew().finally(() => {
        if (this.polling === polling) this.polling = null;
      });
      this.polling = polling;
    }
    return this.polling;
  }

  async fetchNew() {
    const generation = this.generation;
    let added = 0;
    for (;;) {
      const page = await api(`/api/flow-runs/${this.flowRunId}/logs`, {
        params: { ...this.filter, limit: LIMIT, page_token: this.cursor }, signal: this.signal,
      });
      if (generation !== this.generation) return added; // the filter changed meanwhile
      const fresh = page.items.filter((line) => !this.seen.has(line.id));
      fresh.forEach((line) => this.seen.add(line.id));
      added += this.show(fresh);
      if (!page.next_page) return added;
      this.cursor = page.next_page;
    }
  }

  show(lines) {
    if (!lines.length) return 0;
    const box = this.el;
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 24;
    box.querySelector('.empty')?.remove();
    box.append(...lines.map((line) => h('div', { class: `log l${line.level}`, dataset: { id: line.id } },
      h('span', { class: 't', title: line.timestamp }, fmtTime(line.timestamp)),
      h('span', { class: 'lv' }, levelName(line.level)),
      h('span', { class: 'm' }, line.message))));
    while (box.childElementCount > MAX_SHOWN) box.firstElementChild.remove();
    if (atBottom) box.scrollTop = box.scrollHeight;
    return lines.length;
  }
}

export function levelSelect(onchange) {
  return h('select', { name: 'min_level', 'aria-label': 'Lowest level', onchange: (e) => onchange(Number(e.target.value)) },
    [0, 10, 20, 30, 40].map((level) => h('option', { value: level }, level ? `${levelName(level)}+` : 'All levels')));
}
