// Building blocks shared by the pages.
import { h, table, notice } from '../dom.js';
import { getJSON, listURL, rowsOf, parseFilters } from '../api.js';

// failure shows why the latest fetch did not give data. Data already on
// the page stays.
export function failureText(r) {
  if (r.kind === 'unavailable') return 'Not available on this head (the endpoint answered 404).';
  if (r.kind === 'down') return 'Head unreachable; showing the last data received.';
  return `Error ${r.status || ''}: ${r.error}`;
}

// statusLine is a line under a section's title: counts, or why there is
// no fresh data.
export function statusLine(testid) {
  const el = h('p', { class: 'status-line muted', testid });
  return {
    el,
    ok(msg) { el.className = 'status-line muted'; el.dataset.state = 'ok'; el.textContent = msg; },
    fail(r) { el.className = 'status-line warn'; el.dataset.state = r.kind; el.textContent = failureText(r); },
  };
}

// listView is a table fed by a list endpoint, with an optional filter
// box (it maps to ?filter=) and the answer's warnings.
//   name: prefix of element IDs and test IDs ("tasks" → #tasks-table)
//   endpoint: "/api/v0/tasks"; columns, rowKey: as table(); limit
//   filter: the filter box's initial text, or undefined for no box
//   onFilter(text): called when the box is submitted
//   fixed: filters always applied (a details page's "node_id=...")
export function listView({ name, endpoint, columns, rowKey, limit = 100, filter, onFilter, fixed = [], empty }) {
  const status = statusLine(`${name}-status`);
  const warnings = h('ul', { class: 'warnings', id: `${name}-warnings`, testid: `${name}-warnings` });
  const holder = h('div', { class: 'table-holder', id: `${name}-table`, testid: `${name}-table` });
  const parts = [];
  let filters = [...fixed];
  if (filter !== undefined) {
    const parsed = parseFilters(filter);
    filters = filters.concat(parsed.filters);
    const input = h('input', {
      type: 'search', id: `${name}-filter`, testid: `${name}-filter`, value: filter, spellcheck: 'false',
      placeholder: 'key=value, key!=value (e.g. state=FAILED)', 'aria-label': 'filter',
    });
    const form = h('form', { class: 'filter', testid: `${name}-filter-form`, onsubmit: (e) => {
      e.preventDefault();
      onFilter(input.value.trim());
    } }, input, h('button', { type: 'submit', testid: `${name}-filter-apply` }, 'Filter'));
    parts.push(form);
    if (parsed.bad.length) parts.push(notice(`Ignored (not key=value): ${parsed.bad.join(', ')}`, `${name}-filter-bad`));
  }
  parts.push(status.el, warnings, holder);
  let rendered = false;
  return {
    el: h('div', { class: 'list-view', id: `${name}-view` }, parts),
    async refresh() {
      const r = await getJSON(listURL(endpoint, filters, limit));
      if (!r.ok) {
        status.fail(r);
        if (!rendered && r.kind === 'unavailable') holder.replaceChildren();
        return r;
      }
      const rows = rowsOf(r.data);
      const total = r.data.total ?? rows.length;
      status.ok(`${rows.length} shown of ${total}${r.data.truncated ? ' (truncated: narrow the filter)' : ''}.`);
      warnings.replaceChildren(...(r.data.warnings || []).map((w) => h('li', {}, w)));
      holder.replaceChildren(table(columns, rows, { rowKey, testid: `${name}-grid`, rowTestid: `${name}-row`, empty }));
      rendered = true;
      return r;
    },
  };
}

// detailsView fetches one record and renders it with render(row); the
// last rendering stays when a later fetch fails.
export function detailsView({ name, url, render }) {
  const status = statusLine(`${name}-status`);
  const body = h('div', { id: `${name}-details`, testid: `${name}-details` });
  return {
    el: h('div', {}, status.el, body),
    async refresh() {
      const r = await getJSON(url);
      if (!r.ok) {
        status.fail(r);
        return r;
      }
      status.ok(`Updated ${new Date().toLocaleTimeString()}.`);
      body.replaceChildren(render(r.data));
      return r;
    },
  };
}

// page is a page's frame: a title and its sections.
export function page(root, title, testid, ...sections) {
  root.append(h('h1', { testid: `${testid}-title` }, title));
  for (const s of sections.flat(Infinity)) if (s) root.append(s);
}

export function setHashQuery(pageName, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  const qs = q.toString();
  location.hash = `#/${pageName}${qs ? '?' + qs : ''}`;
}

// logsLink links the logs page for a node, and a worker's pid if known.
export function logsLink(nodeID, pid, testid) {
  if (!nodeID) return '';
  const q = new URLSearchParams({ node_id: nodeID });
  if (pid) q.set('pid', String(pid));
  return h('a', { href: `#/logs?${q}`, testid }, pid ? `logs (worker ${pid})` : 'node logs');
}

export async function all(...views) {
  await Promise.all(views.map((v) => v.refresh()));
}
