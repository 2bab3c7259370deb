// Serve (Ray's Serve view): applications, their deployments and
// replicas, and the HTTP proxies, from /api/serve/applications/ (the
// status the Serve controller publishes; serve.Status in
// serve/controller.go). Names are the user's: they reach the page as text.
import { h, text, mono, idLink, stateBadge, table, notice } from '../dom.js';
import { getJSON } from '../api.js';
import { page, statusLine } from './common.js';

const count = (n, what) => `${n} ${what}${n === 1 ? '' : 's'}`;

// replicaList shows a deployment's replicas: ID, state, version.
function replicaList(replicas = []) {
  if (replicas.length === 0) return h('span', { class: 'muted' }, 'none');
  return h('ul', { class: 'replicas', testid: 'serve-replicas' }, replicas.map((r) => h('li', { 'data-state': text(r.state) },
    mono(r.replica_id), ' ', stateBadge(r.state), r.version ? h('span', { class: 'muted', title: 'version' }, ` ${text(r.version)}`) : '')));
}

const deploymentColumns = [
  { key: 'name', title: 'Deployment' },
  { key: 'status', title: 'Status', render: (d) => stateBadge(d.status) },
  { key: 'replicas_running', title: 'Running / wanted', render: (d) => `${d.replicas_running ?? 0} / ${d.replicas_wanted ?? 0}` },
  { key: 'version', title: 'Version', render: (d) => mono(d.version) },
  { key: 'autoscaling', title: 'Last autoscaling decision', render: (d) => (d.autoscaling ? text(d.autoscaling) : h('span', { class: 'muted' }, 'not autoscaled')) },
  { key: 'replicas', title: 'Replicas', render: (d) => replicaList(d.replicas) },
];

function application(app) {
  return h('section', { class: 'serve-app', testid: 'serve-app', 'data-app': text(app.name) },
    h('h2', {}, h('span', { testid: 'serve-app-name' }, text(app.name)), ' ', stateBadge(app.status),
      h('span', { class: 'muted route' }, ' route ', mono(app.route_prefix || '—'))),
    table(deploymentColumns, app.deployments || [], { rowKey: 'name', testid: 'serve-deployments-grid', rowTestid: 'serve-deployments-row', empty: 'No deployments.' }));
}

// render turns one status answer into the page's body.
function render(st) {
  const apps = st.applications || [];
  const proxies = Object.keys(st.proxies || {}).sort().map((node) => ({ node_id: node, address: st.proxies[node] }));
  return h('div', {},
    st.replicas_stopping ? h('p', { class: 'warn', testid: 'serve-stopping' },
      `${count(st.replicas_stopping, 'replica')} stopping (of deleted applications or removed deployments).`) : null,
    apps.length ? apps.map(application) : notice('No Serve applications.', 'serve-empty'),
    h('h2', {}, 'Proxies'),
    table([
      { key: 'node_id', title: 'Node', render: (p) => idLink('nodes', p.node_id) },
      { key: 'address', title: 'Address', render: (p) => mono(p.address) },
    ], proxies, { rowKey: 'node_id', testid: 'serve-proxies-grid', rowTestid: 'serve-proxies-row', empty: 'No proxies running.' }));
}

export function mount(root) {
  const status = statusLine('serve-status');
  const body = h('div', { id: 'serve-body', testid: 'serve-body' });
  page(root, 'Serve', 'serve', status.el, body);
  return {
    async refresh() {
      const r = await getJSON('/api/serve/applications/');
      // The last data received stays when a fetch fails.
      if (!r.ok) {
        status.fail(r);
        return;
      }
      const apps = r.data.applications || [];
      const deployments = apps.reduce((n, a) => n + (a.deployments || []).length, 0);
      status.ok(`${count(apps.length, 'application')}, ${count(deployments, 'deployment')}. Updated ${new Date().toLocaleTimeString()}.`);
      body.replaceChildren(render(r.data));
    },
  };
}
