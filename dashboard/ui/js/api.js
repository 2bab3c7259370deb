// Access to the head's HTTP API. Every call resolves (never throws) to
//   {ok: true, data, status}            the answer;
//   {ok: false, kind: 'unavailable'}    the endpoint does not exist here (404
//                                       from the router, not a JSON error);
//   {ok: false, kind: 'down', error}    the head is unreachable (503 or no
//                                       answer at all);
//   {ok: false, kind: 'error', status, error}  any other error answer.
// It also tracks whether the head answers, for the header and banner.

const listeners = new Set();
let reachable = null;

// onReachability calls fn(true|false) whenever the head's reachability
// changes.
export function onReachability(fn) {
  listeners.add(fn);
  if (reachable !== null) fn(reachable);
}

function setReachable(up) {
  if (up === reachable) return;
  reachable = up;
  for (const fn of listeners) fn(up);
}

async function request(path, asText) {
  let resp;
  try {
    resp = await fetch(path, { credentials: 'same-origin', headers: { Accept: asText ? 'text/plain, */*' : 'application/json' } });
  } catch (e) {
    setReachable(false);
    return { ok: false, kind: 'down', error: String(e) };
  }
  const isJSON = (resp.headers.get('Content-Type') || '').includes('application/json');
  if (resp.status === 401) {
    // The cookie is gone or stale: log in again, then come back here.
    location.assign('/login?next=' + encodeURIComponent('/' + location.hash));
    return { ok: false, kind: 'error', status: 401, error: 'not logged in' };
  }
  if (resp.status === 503) {
    setReachable(false);
    return { ok: false, kind: 'down', error: await errorText(resp, isJSON) };
  }
  setReachable(true);
  if (resp.status === 404 && !isJSON) {
    return { ok: false, kind: 'unavailable', status: 404, error: 'not available on this head' };
  }
  if (!resp.ok) {
    return { ok: false, kind: 'error', status: resp.status, error: await errorText(resp, isJSON) };
  }
  try {
    if (asText) {
      const body = await resp.text();
      if (!isJSON) return { ok: true, status: resp.status, data: body };
      // A JSON reply to a text request: {"logs": "..."} or a JSON string.
      const v = JSON.parse(body);
      return { ok: true, status: resp.status, data: typeof v === 'string' ? v : (v.logs ?? body) };
    }
    return { ok: true, status: resp.status, data: await resp.json() };
  } catch (e) {
    return { ok: false, kind: 'error', status: resp.status, error: 'bad answer: ' + e };
  }
}

async function errorText(resp, isJSON) {
  try {
    if (isJSON) return (await resp.json()).error || resp.statusText;
    return (await resp.text()).trim() || resp.statusText;
  } catch {
    return resp.statusText;
  }
}

export const getJSON = (path) => request(path, false);
export const getText = (path) => request(path, true);

// listURL builds a list endpoint's URL with filters ("key=value" or
// "key!=value") and a limit.
export function listURL(path, filters = [], limit = 100) {
  const q = new URLSearchParams();
  for (const f of filters) q.append('filter', f);
  q.set('limit', String(limit));
  return `${path}?${q}`;
}

// rowsOf returns the rows of a list answer: {"result": [...]} or a bare
// array.
export function rowsOf(data) {
  if (Array.isArray(data)) return data;
  if (data && Array.isArray(data.result)) return data.result;
  return [];
}

// parseFilters splits a filter box's text ("state=FAILED, name=f") into
// filters; it returns {filters, bad} where bad lists the parts that are
// not key=value or key!=value.
export function parseFilters(textValue) {
  const filters = [];
  const bad = [];
  for (const part of textValue.split(/[,\n]/)) {
    const p = part.trim();
    if (!p) continue;
    if (/^[A-Za-z_][A-Za-z0-9_]*\s*!?=/.test(p)) filters.push(p.replace(/\s*(!?=)\s*/, '$1'));
    else bad.push(p);
  }
  return { filters, bad };
}
