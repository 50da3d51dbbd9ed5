// A few DOM helpers. Data is only ever set as text (textContent, attributes), never parsed as HTML.

/** h('a', { href: '#/' }, 'text', child…): an element. `on*` attributes take functions. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') el.addEventListener(name.slice(2), value);
    else if (name === 'class') el.className = value;
    else if (value === true) el.setAttribute(name, '');
    else el.setAttribute(name, String(value));
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

const SVG = 'http://www.w3.org/2000/svg';

export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) if (value !== undefined && value !== null) el.setAttribute(name, String(value));
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export const STATUSES = ['Running', 'Pending', 'Suspended', 'ContinuedAsNew', 'Completed', 'Failed', 'Terminated', 'Canceled'];
export const ACTIVE = ['Pending', 'Running', 'ContinuedAsNew', 'Suspended'];

export function badge(status) {
  return h('span', { class: `badge s-${String(status).toLowerCase()}`, 'data-status': status }, status);
}

/** 2026-12-01T16:40:33Z → "2026-12-01 16:40:33" (UTC, as the API gives it). */
export function time(iso) {
  if (!iso) return '–';
  return String(iso).replace('T', ' ').replace(/(\.\d+)?Z$/, '');
}

/** A duration in ms as "1.2 s", "3 min 4 s", "2 h 5 min". */
export function duration(ms) {
  if (!Number.isFinite(ms)) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const sec = ms / 1000;
  if (sec < 60) return `${sec.toFixed(sec < 10 ? 1 : 0)} s`;
  const min = Math.floor(sec / 60);
  if (min < 60) return `${min} min ${Math.round(sec % 60)} s`;
  const hours = Math.floor(min / 60);
  if (hours < 48) return `${hours} h ${min % 60} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

/** "in 5 h 3 min" / "2 min 1 s ago". */
export function relative(iso, now = Date.now()) {
  if (!iso) return '';
  const ms = Date.parse(iso) - now;
  return ms >= 0 ? `in ${duration(ms)}` : `${duration(-ms)} ago`;
}

/** A JSON value, pretty, in a <pre>. */
export function json(value) {
  return h('pre', { class: 'json' }, value === undefined ? '–' : JSON.stringify(value, null, 2));
}

export function table(headers, rows, attrs = {}) {
  return h(
    'div',
    { class: 'scroll' },
    h('table', attrs, h('thead', {}, h('tr', {}, headers.map((x) => (x instanceof Node ? x : h('th', { scope: 'col' }, x))))), h('tbody', {}, rows)),
  );
}
