// Jobs: submitted jobs (/api/jobs/) and driver jobs (/api/v0/jobs).
import { h, text, kv, stateBadge, fmtTime, fmtDuration, table } from '../dom.js';
import { getJSON, getText, rowsOf } from '../api.js';
import { listView, page, statusLine, all } from './common.js';

// argv shows an entrypoint: a submitted job's is an argument list.
function argv(v) {
  return Array.isArray(v) ? v.map(String).join(' ') : text(v);
}

const submissionLink = (id) => h('a', { href: `#/jobs/${encodeURIComponent(id)}`, class: 'mono' }, text(id));

export function list(root) {
  const status = statusLine('submitted-jobs-status');
  const holder = h('div', { id: 'submitted-jobs-table', testid: 'submitted-jobs-table' });
  const submitted = {
    async refresh() {
      const r = await getJSON('/api/jobs/');
      if (!r.ok) {
        status.fail(r);
        return;
      }
      const rows = rowsOf(r.data).slice().sort((a, b) => (b.start_time_ms || 0) - (a.start_time_ms || 0));
      status.ok(`${rows.length} submitted jobs.`);
      holder.replaceChildren(table([
        { key: 'submission_id', title: 'Submission', render: (j) => submissionLink(j.submission_id) },
        { key: 'status', title: 'Status', render: (j) => stateBadge(j.status) },
        { key: 'entrypoint', title: 'Entrypoint', render: (j) => h('code', {}, argv(j.entrypoint)) },
        { key: 'message', title: 'Message' },
        { key: 'start_time_ms', title: 'Started', render: (j) => fmtTime(j.start_time_ms) },
        { key: 'duration', title: 'Duration', render: (j) => fmtDuration(j.start_time_ms, j.end_time_ms) },
        { key: 'logs', title: 'Logs', render: (j) => h('a', { href: `#/jobs/${encodeURIComponent(j.submission_id)}` }, 'logs') },
      ], rows, { rowKey: 'submission_id', testid: 'submitted-jobs-grid', rowTestid: 'submitted-jobs-row', empty: 'No submitted jobs.' }));
    },
  };
  const drivers = listView({
    name: 'drivers', endpoint: '/api/v0/jobs', rowKey: 'job_id', limit: 1000,
    columns: [
      { key: 'job_id', title: 'Job', render: (j) => h('span', { class: 'mono' }, text(j.job_id)) },
      { key: 'status', title: 'Status', render: (j) => stateBadge(j.status) },
      { key: 'entrypoint', title: 'Entrypoint', render: (j) => h('code', {}, argv(j.entrypoint)) },
      { key: 'driver_pid', title: 'Driver pid' },
      { key: 'driver_address', title: 'Driver address', render: (j) => h('span', { class: 'mono' }, text(j.driver_address)) },
      { key: 'start_time_ms', title: 'Started', render: (j) => fmtTime(j.start_time_ms) },
      { key: 'duration', title: 'Duration', render: (j) => fmtDuration(j.start_time_ms, j.end_time_ms) },
    ],
  });
  page(root, 'Jobs', 'jobs', h('h2', {}, 'Submitted jobs'), status.el, holder, h('h2', {}, 'Drivers'), drivers.el);
  return { refresh: () => all(submitted, drivers) };
}

// one shows a submitted job and its logs (followed while it runs).
export function one(root, route) {
  const id = route.id;
  const status = statusLine('job-status');
  const info = h('div', { id: 'job-details', testid: 'job-details' });
  const logsStatus = statusLine('job-logs-status');
  const logs = h('pre', { id: 'job-logs', testid: 'job-logs', class: 'logs' });
  page(root, `Job ${id}`, 'job', h('p', {}, h('a', { href: '#/jobs', testid: 'back' }, '← Jobs')), status.el, info,
    h('h2', {}, 'Logs'), logsStatus.el, logs);
  let done = false;
  return {
    async refresh() {
      const [j, l] = await Promise.all([getJSON('/api/jobs/'), done ? null : getText(`/api/jobs/${encodeURIComponent(id)}/logs`)]);
      if (j.ok) {
        const row = rowsOf(j.data).find((r) => r.submission_id === id);
        if (row) {
          status.ok('');
          info.replaceChildren(kv([
            ['Submission', text(row.submission_id)], ['Status', stateBadge(row.status)],
            ['Entrypoint', h('code', {}, argv(row.entrypoint))], ['Message', text(row.message)],
            ['Started', fmtTime(row.start_time_ms)], ['Ended', fmtTime(row.end_time_ms)],
            ['Duration', fmtDuration(row.start_time_ms, row.end_time_ms)],
          ], 'job-kv'));
          // A finished job's logs do not change: fetch them once more, then stop.
          if (['STOPPED', 'SUCCEEDED', 'FAILED'].includes(row.status) && l && l.ok) done = true;
        } else {
          status.ok(`No submitted job ${id}.`);
        }
      } else {
        status.fail(j);
      }
      if (l) {
        if (l.ok) {
          const atEnd = logs.scrollTop + logs.clientHeight >= logs.scrollHeight - 4;
          logs.textContent = l.data;
          logsStatus.ok(l.data ? '' : 'No output yet.');
          if (atEnd) logs.scrollTop = logs.scrollHeight;
        } else {
          logsStatus.fail(l);
        }
      }
    },
  };
}
