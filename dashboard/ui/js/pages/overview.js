// The overview: nodes by state, resources in use, tasks and actors by
// state, and charts of use over time (from the sampler's history).
import { h, stateBadge, fmtResource, fmtBytes, notice } from '../dom.js';
import { getJSON } from '../api.js';
import { lineChart } from '../chart.js';
import { resourceBars } from './lists.js';
import { samples, latest, onSample, PERIOD_MS, MAX_SAMPLES, OBJECTS_EVERY } from '../sampler.js';
import { statusLine } from './common.js';


// counts shows {state: n} as badges with counts.
function counts(m, testid) {
  const keys = Object.keys(m || {}).sort();
  if (keys.length === 0) return h('p', { class: 'muted', testid }, 'None.');
  return h('ul', { class: 'counts', testid }, keys.map((k) => h('li', { 'data-state': k }, stateBadge(k), h('span', { class: 'count' }, String(m[k])))));
}

function card(title, testid, ...body) {
  return h('section', { class: 'card', testid }, h('h2', {}, title), ...body);
}

export function mount(root) {
  const status = statusLine('overview-status');
  const cards = h('div', { class: 'cards', id: 'overview-cards' });
  const taskCard = h('div', { id: 'overview-tasks' });
  const charts = h('div', { class: 'charts', id: 'overview-charts', testid: 'overview-charts' });
  root.append(h('h1', { testid: 'overview-title' }, 'Overview'), status.el, cards, h('h2', {}, 'Use over time'), charts);
  let taskSummary = null; // last /summary/tasks answer, or a failure

  const renderCards = () => {
    const st = latest.status;
    if (!st) return;
    const total = st.resources_total || {};
    const used = st.resources_used || {};
    cards.replaceChildren(
      card('Nodes', 'overview-nodes', counts(st.nodes, 'overview-nodes-by-state')),
      card('Resources in use', 'overview-resources', resourceBars(total, used)),
      card('Tasks', 'overview-tasks', taskCard),
      card('Actors', 'overview-actors', counts(st.actors, 'overview-actors-by-state')),
      card('Jobs', 'overview-jobs', counts(st.jobs, 'overview-jobs-by-status')),
      card('Placement groups', 'overview-pgs', counts(st.placement_groups, 'overview-pgs-by-state')));
    renderTasks();
  };

  const renderTasks = () => {
    if (!taskSummary) return;
    if (!taskSummary.ok) {
      // Keep the last counts when the head is down; say why otherwise.
      if (taskSummary.kind !== 'down' || !taskCard.firstChild) taskCard.replaceChildren(notice(
        taskSummary.kind === 'unavailable' ? 'Task state is not available on this head.' : 'No data.', 'overview-tasks-unavailable'));
      return;
    }
    taskCard.replaceChildren(counts(taskSummary.data.by_state, 'overview-tasks-by-state'),
      h('p', { class: 'muted' }, `${taskSummary.data.total} in all · `, h('a', { href: '#/tasks' }, 'tasks')));
  };

  const renderCharts = () => {
    // The time axis spans the history kept, from one minute to all of it.
    const span = samples.length ? Date.now() - samples[0].t : 0;
    const windowMs = Math.min(PERIOD_MS * MAX_SAMPLES, Math.max(60000, Math.ceil(span / 60000) * 60000));
    const series = (res) => samples.map((p) => ({ t: p.t, v: p.total[res] !== undefined ? (p.used[res] || 0) : null, max: p.total[res] }));
    const num = (res) => (v) => fmtResource(res, v);
    const boxes = [
      lineChart({ title: 'CPU in use', samples: series('CPU'), fmt: num('CPU'), windowMs, testid: 'chart-cpu' }),
      lineChart({ title: 'GPU in use', samples: series('GPU'), fmt: num('GPU'), windowMs, testid: 'chart-gpu', empty: 'no GPU in the cluster' }),
      lineChart({ title: 'Memory reserved', samples: series('memory'), fmt: fmtBytes, windowMs, testid: 'chart-memory' }),
    ];
    if (latest.objects === 'unavailable') {
      boxes.push(h('figure', { class: 'chart-box', testid: 'chart-object-store' }, h('figcaption', {}, h('span', {}, 'Object store')),
        notice('Object state is not available on this head.')));
    } else {
      boxes.push(lineChart({ title: `Object store (every ${(PERIOD_MS * OBJECTS_EVERY) / 1000} s)`, samples: samples.map((p) => ({ t: p.t, v: p.objectBytes })), fmt: fmtBytes, windowMs, testid: 'chart-object-store' }));
    }
    charts.replaceChildren(...boxes);
  };

  const onNew = () => {
    if (latest.status) status.ok(`${samples.length} samples, one every ${PERIOD_MS / 1000} s.`);
    renderCards();
    renderCharts();
  };
  const unsubscribe = onSample(onNew);
  onNew();
  return {
    unmount: unsubscribe,
    async refresh() {
      const r = await getJSON('/api/v0/summary/tasks');
      if (r.ok || !taskSummary || !taskSummary.ok || r.kind !== 'down') taskSummary = r;
      if (!r.ok && r.kind === 'down') status.fail(r);
      renderTasks();
    },
  };
}

