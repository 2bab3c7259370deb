// Details of one node, actor or task.
import { h, text, kv, stateBadge, fmtTime, fmtDuration, idLink, mono } from '../dom.js';
import { detailsView, listView, logsLink, page, all } from './common.js';
import { resourceBars, usedOf, resourceText, workersView, actorColumns, taskColumns } from './lists.js';

const back = (route, title) => h('p', {}, h('a', { href: `#/${route}`, testid: 'back' }, `← ${title}`));

export function node(root, route) {
  const id = route.id;
  const one = detailsView({
    name: 'node', url: `/api/v0/nodes/${encodeURIComponent(id)}`,
    render: (r) => h('div', {},
      kv([
        ['Node', mono(r.node_id)], ['State', stateBadge(r.state)], ['Host', text(r.hostname)],
        ['Address', mono(r.address)], ['Head node', r.is_head_node ? 'yes' : 'no'], ['Daemon pid', text(r.pid)],
        ['Started', fmtTime(r.start_time_ms)], r.end_time_ms ? ['Died', fmtTime(r.end_time_ms)] : null,
        ['Labels', text(r.labels)], ['Workers', text(r.num_workers)], ['Logs', logsLink(r.node_id, 0, 'node-logs-link')],
      ], 'node-kv'),
      h('h2', {}, 'Resources in use'), resourceBars(r.resources_total, usedOf(r.resources_total, r.resources_available))),
  });
  const workers = workersView('node-workers', [`node_id=${id}`]);
  const actors = listView({ name: 'node-actors', endpoint: '/api/v0/actors', rowKey: 'actor_id', fixed: [`node_id=${id}`], columns: actorColumns(), limit: 500 });
  page(root, 'Node', 'node', back('nodes', 'Nodes'), one.el, h('h2', {}, 'Workers'), workers.el, h('h2', {}, 'Actors'), actors.el);
  return { refresh: () => all(one, workers, actors) };
}

export function actor(root, route) {
  const id = route.id;
  const one = detailsView({
    name: 'actor', url: `/api/v0/actors/${encodeURIComponent(id)}`,
    render: (r) => h('div', {},
      kv([
        ['Actor', mono(r.actor_id)], ['Class', h('span', { testid: 'actor-class' }, text(r.class_name))],
        ['Name', text(r.name)], ['Namespace', text(r.namespace)], ['State', stateBadge(r.state)],
        ['Node', idLink('nodes', r.node_id)], ['Pid', text(r.pid)], ['Address', mono(r.address)],
        ['Restarts', `${r.num_restarts ?? 0} of ${r.max_restarts < 0 ? '∞' : (r.max_restarts ?? 0)}`],
        ['Resources', resourceText(r.required_resources)], ['Detached', r.detached ? 'yes' : 'no'],
        ['Job', mono(r.job_id)], r.infeasible ? ['Infeasible', 'no node can ever host it'] : null,
        ['Logs', logsLink(r.node_id, r.pid, 'actor-logs-link')],
      ], 'actor-kv'),
      r.death_cause ? h('div', { class: 'error-box' }, h('h2', {}, `Died: ${text(r.death_cause)}`),
        h('pre', { id: 'actor-death-message', testid: 'actor-death-message' }, text(r.death_message))) : ''),
  });
  const tasks = listView({ name: 'actor-tasks', endpoint: '/api/v0/tasks', rowKey: 'task_id', fixed: [`actor_id=${id}`], columns: taskColumns(), limit: 200 });
  page(root, 'Actor', 'actor', back('actors', 'Actors'), one.el, h('h2', {}, 'Tasks'), tasks.el);
  return { refresh: () => all(one, tasks) };
}

export function task(root, route) {
  const id = route.id;
  const one = detailsView({
    name: 'task', url: `/api/v0/tasks/${encodeURIComponent(id)}`,
    render: (r) => h('div', {},
      kv([
        ['Task', mono(r.task_id)], ['Name', h('span', { testid: 'task-name' }, text(r.name))],
        ['State', stateBadge(r.state)], ['Type', text(r.type)], ['Attempt', text(r.attempt)],
        ['Job', mono(r.job_id)], r.actor_id ? ['Actor', idLink('actors', r.actor_id)] : null,
        ['Node', idLink('nodes', r.node_id)], ['Worker', r.worker_id ? mono(r.worker_id) : ''], ['Worker pid', text(r.worker_pid)],
        ['Created', fmtTime(r.creation_time_ms)], ['Started', fmtTime(r.start_time_ms)], ['Ended', fmtTime(r.end_time_ms)],
        ['Duration', fmtDuration(r.start_time_ms, r.end_time_ms)],
        ['Logs', logsLink(r.node_id, r.worker_pid, 'task-logs-link')],
      ], 'task-kv'),
      r.error_message || r.error_type || r.error_stack ? h('div', { class: 'error-box' },
        h('h2', {}, `Error${r.error_type ? ': ' + text(r.error_type) : ''}`),
        h('pre', { id: 'task-error-message', testid: 'task-error-message' }, text(r.error_message)),
        r.error_stack ? [h('h3', {}, 'Stack'), h('pre', { id: 'task-error-stack', testid: 'task-error-stack', class: 'stack' }, text(r.error_stack))] : '') : ''),
  });
  page(root, 'Task', 'task', back('tasks', 'Tasks'), one.el);
  return { refresh: () => one.refresh() };
}
