// The list pages: nodes, actors, tasks, objects and memory, placement
// groups.
import { h, text, idLink, shortID, stateBadge, fmtTime, fmtDuration, fmtBytes, fmtResource, table } from '../dom.js';
import { getJSON, listURL, rowsOf } from '../api.js';
import { bar } from '../chart.js';
import { listView, page, setHashQuery, statusLine, logsLink, all } from './common.js';

// resourceBars shows each resource's use of its total. Placement-group
// resources (CPU_group_..., bundle_group_...) are left out: the
// placement groups page shows them.
export function resourceBars(total = {}, used = {}) {
  const names = Object.keys(total).filter((k) => !k.includes('_group_'))
    .sort((a, b) => order(a) - order(b) || a.localeCompare(b));
  if (names.length === 0) return h('p', { class: 'muted' }, 'No resources.');
  return h('div', { class: 'res-bars' }, names.map((k) => h('div', { class: 'res-row', 'data-resource': k },
    h('span', { class: 'res-name', title: k }, k),
    bar(used[k] || 0, total[k], `${fmtResource(k, used[k] || 0)} / ${fmtResource(k, total[k])}`))));
}

// usedOf is total minus available, per resource.
export function usedOf(total = {}, available = {}) {
  return Object.fromEntries(Object.keys(total).map((k) => [k, total[k] - (available[k] ?? total[k])]));
}

function order(name) {
  return { CPU: 0, GPU: 1, memory: 2 }[name] ?? 3;
}

const nodeLink = (r) => idLink('nodes', r.node_id);

export function nodes(root, route) {
  const filter = route.params.get('filter') || '';
  const list = listView({
    name: 'nodes', endpoint: '/api/v0/nodes', rowKey: 'node_id', filter,
    onFilter: (f) => setHashQuery('nodes', { filter: f }),
    columns: [
      { key: 'node_id', title: 'Node', render: nodeLink },
      { key: 'state', title: 'State', render: (r) => stateBadge(r.state) },
      { key: 'hostname', title: 'Host' },
      { key: 'address', title: 'Address', render: (r) => h('span', { class: 'mono' }, text(r.address)) },
      { key: 'is_head_node', title: 'Head', render: (r) => (r.is_head_node ? 'yes' : '') },
      { key: 'resources', title: 'Resources in use', render: (r) => resourceBars(r.resources_total, usedOf(r.resources_total, r.resources_available)) },
      { key: 'num_workers', title: 'Workers' },
      { key: 'start_time_ms', title: 'Up', render: (r) => (r.state === 'DEAD' ? 'dead' : fmtDuration(r.start_time_ms)) },
    ],
  });
  const workers = workersView('workers', []);
  page(root, 'Nodes', 'nodes', list.el, h('h2', {}, 'Workers'), workers.el);
  return { refresh: () => all(list, workers) };
}

// workersView lists workers (of one node with fixed filters).
export function workersView(name, fixed) {
  return listView({
    name, endpoint: '/api/v0/workers', rowKey: 'worker_id', fixed, limit: 500,
    columns: [
      { key: 'worker_id', title: 'Worker', render: (r) => h('span', { class: 'mono', title: r.worker_id }, shortID(r.worker_id)) },
      { key: 'node_id', title: 'Node', render: nodeLink },
      { key: 'pid', title: 'Pid' },
      { key: 'state', title: 'State', render: (r) => stateBadge(r.state) },
      { key: 'job_id', title: 'Job', render: (r) => h('span', { class: 'mono' }, text(r.job_id)) },
      { key: 'actor_id', title: 'Actor', render: (r) => idLink('actors', r.actor_id) },
      { key: 'start_time_ms', title: 'Started', render: (r) => fmtTime(r.start_time_ms) },
      { key: 'logs', title: 'Logs', render: (r) => logsLink(r.node_id, r.pid) },
    ],
  });
}

export function actorColumns() {
  return [
    { key: 'actor_id', title: 'Actor', render: (r) => idLink('actors', r.actor_id) },
    { key: 'class_name', title: 'Class' },
    { key: 'name', title: 'Name', render: (r) => (r.name ? h('span', { title: r.namespace ? `namespace ${r.namespace}` : undefined }, text(r.name)) : '') },
    { key: 'state', title: 'State', render: (r) => stateBadge(r.state) },
    { key: 'node_id', title: 'Node', render: nodeLink },
    { key: 'pid', title: 'Pid', render: (r) => (r.pid ? String(r.pid) : '') },
    { key: 'num_restarts', title: 'Restarts', render: (r) => `${r.num_restarts ?? 0}${r.max_restarts ? ' / ' + (r.max_restarts < 0 ? '∞' : r.max_restarts) : ''}` },
    { key: 'required_resources', title: 'Resources', render: (r) => resourceText(r.required_resources) },
    { key: 'job_id', title: 'Job', render: (r) => h('span', { class: 'mono' }, text(r.job_id)) },
    { key: 'death_cause', title: 'Death', render: (r) => (r.death_cause ? h('span', { title: text(r.death_message) }, text(r.death_cause)) : (r.infeasible ? 'infeasible' : '')) },
  ];
}

export function resourceText(res) {
  if (!res) return '';
  return Object.keys(res).sort().map((k) => `${k}: ${fmtResource(k, res[k])}`).join(', ');
}

export function actors(root, route) {
  const filter = route.params.get('filter') || '';
  const list = listView({
    name: 'actors', endpoint: '/api/v0/actors', rowKey: 'actor_id', filter, limit: 1000,
    onFilter: (f) => setHashQuery('actors', { filter: f }),
    columns: actorColumns(),
  });
  page(root, 'Actors', 'actors', list.el);
  return { refresh: () => list.refresh() };
}

export function taskColumns() {
  return [
    { key: 'task_id', title: 'Task', render: (r) => idLink('tasks', r.task_id) },
    { key: 'name', title: 'Name' },
    { key: 'state', title: 'State', render: (r) => stateBadge(r.state) },
    { key: 'type', title: 'Type', render: (r) => text(r.type).replace(/_TASK$/, '').toLowerCase() },
    { key: 'attempt', title: 'Attempt' },
    { key: 'node_id', title: 'Node', render: nodeLink },
    { key: 'worker_pid', title: 'Pid', render: (r) => (r.worker_pid ? String(r.worker_pid) : '') },
    { key: 'duration', title: 'Duration', render: (r) => fmtDuration(r.start_time_ms, r.end_time_ms) },
    { key: 'error_message', title: 'Error', render: (r) => (r.error_message
      ? h('span', { class: 'err', title: text(r.error_message) }, `${r.error_type ? r.error_type + ': ' : ''}${text(r.error_message)}`) : '') },
  ];
}

export function tasks(root, route) {
  const filter = route.params.get('filter') || '';
  const summary = statusLine('tasks-summary-status');
  const chips = h('div', { class: 'chips', id: 'tasks-summary', testid: 'tasks-summary' });
  const list = listView({
    name: 'tasks', endpoint: '/api/v0/tasks', rowKey: 'task_id', filter, limit: 500,
    onFilter: (f) => setHashQuery('tasks', { filter: f }),
    columns: taskColumns(), empty: 'No tasks match.',
  });
  page(root, 'Tasks', 'tasks', chips, summary.el, list.el);
  const refreshSummary = async () => {
    const r = await getJSON('/api/v0/summary/tasks');
    if (!r.ok) {
      // A missing endpoint is said once, by the list below.
      if (r.kind === 'unavailable') summary.ok('');
      else summary.fail(r);
      return;
    }
    summary.ok(`${r.data.total} tasks in all.`);
    const byState = r.data.by_state || {};
    chips.replaceChildren(...Object.keys(byState).sort().map((st) => h('a', {
      class: 'chip', href: `#/tasks?filter=${encodeURIComponent('state=' + st)}`, 'data-state': st,
    }, stateBadge(st), ` ${byState[st]}`)));
  };
  return { refresh: () => Promise.all([list.refresh(), refreshSummary()]) };
}

export function objects(root, route) {
  const filter = route.params.get('filter') || '';
  const perNode = h('div', { id: 'objects-by-node', testid: 'objects-by-node' });
  const perNodeStatus = statusLine('objects-by-node-status');
  const list = listView({
    name: 'objects', endpoint: '/api/v0/objects', rowKey: 'object_id', filter, limit: 1000,
    onFilter: (f) => setHashQuery('objects', { filter: f }),
    columns: [
      { key: 'object_id', title: 'Object', render: (r) => h('span', { class: 'mono', title: r.object_id }, shortID(r.object_id)) },
      { key: 'size_bytes', title: 'Size', render: (r) => fmtBytes(r.size_bytes) },
      { key: 'node_id', title: 'Node', render: nodeLink },
      { key: 'owner_address', title: 'Owner', render: (r) => h('span', { class: 'mono' }, text(r.owner_address)) },
      { key: 'reference_type', title: 'Reference' },
      { key: 'spilled', title: 'Spilled', render: (r) => (r.spilled ? 'yes' : '') },
    ],
  });
  page(root, 'Objects and memory', 'objects', h('h2', {}, 'Memory by node'), perNodeStatus.el, perNode,
    h('h2', {}, 'Objects'), list.el);
  // Per node: the memory resource in use, and the objects held (from the
  // objects list, up to 10,000 of them).
  const refreshPerNode = async () => {
    const [n, o] = await Promise.all([getJSON(listURL('/api/v0/nodes', [], 1000)), getJSON(listURL('/api/v0/objects', [], 10000))]);
    if (!n.ok) {
      perNodeStatus.fail(n);
      return;
    }
    const held = {};
    for (const r of o.ok ? rowsOf(o.data) : []) {
      const e = (held[r.node_id] ||= { count: 0, bytes: 0, spilled: 0 });
      e.count++;
      e.bytes += Number(r.size_bytes) || 0;
      if (r.spilled) e.spilled++;
    }
    perNodeStatus.ok(o.ok ? (o.data.truncated ? 'Object counts from the first 10,000 objects.' : '')
      : 'Objects: ' + (o.kind === 'unavailable' ? 'not available on this head.' : o.error));
    const rows = rowsOf(n.data).map((r) => ({ ...r, ...(held[r.node_id] || { count: 0, bytes: 0, spilled: 0 }) }));
    perNode.replaceChildren(table([
      { key: 'node_id', title: 'Node', render: nodeLink },
      { key: 'state', title: 'State', render: (r) => stateBadge(r.state) },
      { key: 'memory', title: 'Memory reserved', render: (r) => (r.resources_total && 'memory' in r.resources_total
        ? resourceBars(pick(r.resources_total, 'memory'), usedOf(r.resources_total, r.resources_available)) : '—') },
      { key: 'count', title: 'Objects', render: (r) => (o.ok ? String(r.count) : '—') },
      { key: 'bytes', title: 'Object bytes', render: (r) => (o.ok ? fmtBytes(r.bytes) : '—') },
      { key: 'spilled', title: 'Spilled', render: (r) => (o.ok ? String(r.spilled) : '—') },
    ], rows, { rowKey: 'node_id', testid: 'objects-by-node-grid' }));
  };
  return { refresh: () => Promise.all([list.refresh(), refreshPerNode()]) };
}

function pick(m, key) {
  return m && key in m ? { [key]: m[key] } : {};
}

export function placementGroups(root, route) {
  const filter = route.params.get('filter') || '';
  const list = listView({
    name: 'pgs', endpoint: '/api/v0/placement_groups', rowKey: 'placement_group_id', filter, limit: 1000,
    onFilter: (f) => setHashQuery('placement-groups', { filter: f }),
    columns: [
      { key: 'placement_group_id', title: 'Group', render: (r) => h('span', { class: 'mono', title: r.placement_group_id }, shortID(r.placement_group_id)) },
      { key: 'name', title: 'Name' },
      { key: 'state', title: 'State', render: (r) => stateBadge(r.state) },
      { key: 'strategy', title: 'Strategy' },
      { key: 'bundles', title: 'Bundles (resources → node)', render: (r) => h('ol', { class: 'bundles', start: 0 },
        (r.bundles || []).map((b) => h('li', { 'data-bundle': b.index },
          h('span', {}, resourceText(b.resources)), ' → ', b.node_id ? idLink('nodes', b.node_id) : h('span', { class: 'muted' }, 'not placed')))) },
      { key: 'job_id', title: 'Job', render: (r) => h('span', { class: 'mono' }, text(r.job_id)) },
      { key: 'detached', title: 'Detached', render: (r) => (r.detached ? 'yes' : '') },
      { key: 'create_time_ms', title: 'Created', render: (r) => fmtTime(r.create_time_ms) },
    ],
  });
  page(root, 'Placement groups', 'pgs', list.el);
  return { refresh: () => list.refresh() };
}
