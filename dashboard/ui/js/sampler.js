// The overview's history: every 2 s, whatever page is open, the cluster
// status (resources in use and total) and the object store's use are
// sampled; the last MAX_SAMPLES stay in the browser.
import { getJSON, listURL, rowsOf } from './api.js';

export const PERIOD_MS = 2000;
export const MAX_SAMPLES = 180; // 6 minutes
export const OBJECTS_EVERY = 5; // 10 s

// samples: [{t, used: {res: n}, total: {res: n}, objectBytes, objectsTruncated}]
export const samples = [];
// latest is the last cluster_status answer (kept while the head is down).
export const latest = { status: null, objects: 'unknown' };

const subscribers = new Set();
export function onSample(fn) {
  subscribers.add(fn);
  return () => subscribers.delete(fn);
}

let n = 0;

async function sampleOnce() {
  n++;
  const st = await getJSON('/api/v0/cluster_status');
  if (!st.ok) {
    for (const fn of subscribers) fn();
    return;
  }
  latest.status = st.data;
  const sample = { t: Date.now(), used: st.data.resources_used || {}, total: st.data.resources_total || {}, objectBytes: null };
  // The object list can be long: it is read every OBJECTS_EVERY samples
  // (and, where this head lacks the endpoint, every 30).
  if (n % (latest.objects === 'unavailable' ? 30 : OBJECTS_EVERY) === 1) {
    const obj = await getJSON(listURL('/api/v0/objects', [], 10000));
    if (obj.ok) {
      latest.objects = 'available';
      let sum = 0;
      for (const r of rowsOf(obj.data)) sum += Number(r.size_bytes) || 0;
      sample.objectBytes = sum;
      sample.objectsTruncated = !!obj.data.truncated;
    } else if (obj.kind === 'unavailable') {
      latest.objects = 'unavailable';
    }
  }
  samples.push(sample);
  if (samples.length > MAX_SAMPLES) samples.splice(0, samples.length - MAX_SAMPLES);
  for (const fn of subscribers) fn();
}

export function startSampler() {
  const loop = async () => {
    try {
      await sampleOnce();
    } finally {
      setTimeout(loop, PERIOD_MS);
    }
  };
  loop();
}
