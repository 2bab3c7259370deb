// DOM helpers. Every value reaches the page as text (textContent or an
// attribute), never as HTML.

const SVG = 'http://www.w3.org/2000/svg';

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.setAttribute('class', v);
    else if (k === 'testid') el.dataset.testid = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// h('tag', {attr: value}, ...children): children are nodes or text.
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

// s('tag', ...) is h for SVG elements.
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG, tag), attrs, children);
}

// table(columns, rows, opts): columns are {key, title, render?}; render
// returns a node or text. opts.rowKey names the key that identifies a row
// (data-id), opts.testid tags the table, opts.empty the text with no rows.
export function table(columns, rows, opts = {}) {
  const head = h('tr', {}, columns.map((c) => h('th', {}, c.title)));
  const body = rows.map((r) => h('tr', { 'data-id': opts.rowKey ? r[opts.rowKey] : undefined, testid: opts.rowTestid },
    columns.map((c) => h('td', { 'data-col': c.key }, c.render ? c.render(r) : text(r[c.key])))));
  if (rows.length === 0) {
    body.push(h('tr', {}, h('td', { colspan: columns.length, class: 'muted' }, opts.empty || 'None.')));
  }
  return h('table', { class: 'grid', testid: opts.testid }, h('thead', {}, head), h('tbody', {}, body));
}

// text renders any JSON value as short text.
export function text(v) {
  if (v === undefined || v === null || v === '') return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

// mono shows a value (an ID, an address) in monospace.
export const mono = (v) => h('span', { class: 'mono' }, text(v));

export function shortID(id) {
  const t = text(id);
  return t.length > 12 ? t.slice(0, 12) + '…' : t;
}

// idLink links a record's details page, showing a short ID.
export function idLink(route, id) {
  if (!id) return '';
  return h('a', { href: `#/${route}/${encodeURIComponent(id)}`, title: id, class: 'mono' }, shortID(id));
}

export function stateBadge(state) {
  const t = text(state) || 'UNKNOWN';
  return h('span', { class: `badge st-${t.toLowerCase().replace(/[^a-z_]/g, '')}`, 'data-state': t }, t);
}

export function fmtTime(ms) {
  if (!ms) return '';
  return new Date(ms).toLocaleString();
}

export function fmtDuration(startMs, endMs) {
  if (!startMs) return '';
  const d = (endMs || Date.now()) - startMs;
  if (d < 1000) return `${d} ms`;
  if (d < 60000) return `${(d / 1000).toFixed(1)} s`;
  if (d < 3600000) return `${Math.floor(d / 60000)} m ${Math.floor((d % 60000) / 1000)} s`;
  return `${Math.floor(d / 3600000)} h ${Math.floor((d % 3600000) / 60000)} m`;
}

export function fmtBytes(n) {
  if (n === undefined || n === null) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = Number(n);
  while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

// fmtResource shows a resource amount: bytes for memory, a number else.
export function fmtResource(name, v) {
  if (v === undefined || v === null) return '';
  if (name === 'memory' || name.endsWith('_memory')) return fmtBytes(v);
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}

// kv renders a definition list of [label, value] pairs.
export function kv(pairs, testid) {
  return h('dl', { class: 'kv', testid }, pairs.filter(Boolean).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v === '' || v === undefined || v === null ? '—' : v)]));
}

// notice is a line saying why a section has no data.
export function notice(msg, testid) {
  return h('p', { class: 'notice', testid }, msg);
}
