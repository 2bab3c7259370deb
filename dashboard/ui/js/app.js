// The dashboard's single-page app: hash routes, one page mounted at a
// time, refreshed every 2 s without reloading the page.
import { onReachability } from './api.js';
import { startSampler, PERIOD_MS } from './sampler.js';
import * as overview from './pages/overview.js';
import * as lists from './pages/lists.js';
import * as details from './pages/details.js';
import * as jobs from './pages/jobs.js';
import * as logs from './pages/logs.js';
import * as serve from './pages/serve.js';

// Each page: mount(root, route) returns {refresh(): Promise, unmount?()}.
const pages = {
  overview: { list: overview.mount },
  nodes: { list: lists.nodes, one: details.node },
  actors: { list: lists.actors, one: details.actor },
  tasks: { list: lists.tasks, one: details.task },
  jobs: { list: jobs.list, one: jobs.one },
  serve: { list: serve.mount },
  objects: { list: lists.objects },
  'placement-groups': { list: lists.placementGroups },
  logs: { list: logs.mount },
};

// parseRoute reads "#/page/id?query".
function parseRoute() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [pathPart, query = ''] = raw.split('?', 2);
  const [page, ...rest] = pathPart.split('/');
  return {
    page: pages[page] ? page : 'overview',
    id: rest.length ? decodeURIComponent(rest.join('/')) : '',
    params: new URLSearchParams(query),
  };
}

const view = document.getElementById('view');
let current = null; // {page, refresh, unmount, gen}
let gen = 0;
let timer = null;

function mountRoute() {
  if (current && current.unmount) current.unmount();
  clearTimeout(timer);
  const route = parseRoute();
  const entry = pages[route.page];
  const mount = route.id && entry.one ? entry.one : entry.list;
  view.replaceChildren();
  view.dataset.page = route.page;
  for (const a of document.querySelectorAll('#nav a')) {
    a.classList.toggle('active', a.dataset.page === route.page);
  }
  const myGen = ++gen;
  current = { ...mount(view, route), gen: myGen };
  loop(myGen);
}

async function loop(myGen) {
  if (myGen !== gen) return;
  try {
    if (!document.hidden) await current.refresh();
  } catch (e) {
    console.error('refresh failed', e);
  }
  if (myGen === gen) timer = setTimeout(() => loop(myGen), PERIOD_MS);
}

const conn = document.getElementById('conn');
const banner = document.getElementById('banner');
onReachability((up) => {
  conn.dataset.state = up ? 'live' : 'down';
  conn.textContent = up ? 'live' : 'head unreachable';
  banner.hidden = up;
});

window.addEventListener('hashchange', mountRoute);
startSampler();
mountRoute();
