// Logs of a node: its log files, and one file's text. With ?pid= the
// files naming that worker's pid come first, and one such file opens.
import { h, text, fmtBytes, idLink } from '../dom.js';
import { getJSON, getText, rowsOf } from '../api.js';
import { page, statusLine } from './common.js';

// fileName reads a log list row: a name, or {filename|name|path, size_bytes|size}.
function fileOf(row) {
  if (typeof row === 'string') return { name: row };
  return { name: text(row.filename ?? row.name ?? row.path ?? row.file), size: row.size_bytes ?? row.size };
}

function namesPid(name, pid) {
  return pid && new RegExp(`(^|[^0-9])${pid}([^0-9]|$)`).test(name.split('/').pop());
}

function logsHref(nodeID, pid, filename) {
  const q = new URLSearchParams({ node_id: nodeID });
  if (pid) q.set('pid', pid);
  if (filename) q.set('filename', filename);
  return `#/logs?${q}`;
}

export function mount(root, route) {
  const nodeID = route.params.get('node_id') || '';
  const pid = (route.params.get('pid') || '').replace(/\D/g, '');
  const filename = route.params.get('filename') || '';
  const filesStatus = statusLine('log-files-status');
  const files = h('ul', { class: 'files', id: 'log-files', testid: 'log-files' });
  const fileStatus = statusLine('log-file-status');
  const pre = h('pre', { id: 'log-text', testid: 'log-text', class: 'logs' });
  const title = filename ? `Log ${filename}` : 'Logs';
  page(root, title, 'logs',
    h('p', {}, 'Node ', nodeID ? idLink('nodes', nodeID) : '(none given)', pid ? ` · worker pid ${pid}` : ''),
    h('h2', {}, 'Files'), filesStatus.el, files,
    filename ? [h('h2', {}, filename), fileStatus.el, pre] : '');
  if (!nodeID) {
    filesStatus.ok('Open logs from a node, actor or task.');
    return { refresh: async () => {} };
  }
  return {
    async refresh() {
      const [l, f] = await Promise.all([
        getJSON(`/api/v0/logs?${new URLSearchParams({ node_id: nodeID })}`),
        filename ? getText(`/api/v0/logs/file?${new URLSearchParams({ node_id: nodeID, filename })}`) : null,
      ]);
      if (l.ok) {
        const list = rowsOf(l.data).map(fileOf).filter((x) => x.name);
        const mine = list.filter((x) => namesPid(x.name, pid));
        const ordered = pid ? [...mine, ...list.filter((x) => !namesPid(x.name, pid))] : list;
        filesStatus.ok(pid ? `${mine.length} of ${list.length} files name pid ${pid}.` : `${list.length} files.`);
        files.replaceChildren(...ordered.map((x) => h('li', { class: namesPid(x.name, pid) ? 'match' : '' },
          h('a', { href: logsHref(nodeID, pid, x.name), 'data-file': x.name, class: x.name === filename ? 'current' : '' }, x.name),
          x.size !== undefined ? h('span', { class: 'muted' }, ` ${fmtBytes(x.size)}`) : '')));
        // Open the worker's file when exactly one names the pid.
        if (!filename && mine.length === 1) location.replace(logsHref(nodeID, pid, mine[0].name));
      } else {
        filesStatus.fail(l);
      }
      if (f) {
        if (f.ok) {
          const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
          if (pre.textContent !== f.data) pre.textContent = f.data;
          fileStatus.ok(f.data ? '' : 'The file is empty.');
          if (atEnd) pre.scrollTop = pre.scrollHeight;
        } else {
          fileStatus.fail(f);
        }
      }
    },
  };
}
