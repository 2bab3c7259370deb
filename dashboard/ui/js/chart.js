// A small SVG line chart of samples over time.
import { h, s } from './dom.js';

const W = 320;
const H = 120;
const PAD = { l: 44, r: 8, t: 8, b: 18 };

// lineChart({title, samples: [{t, v, max}], fmt, windowMs, testid, empty})
// draws v over the last windowMs, and max (the total) as a dashed line.
export function lineChart({ title, samples, fmt, windowMs, testid, empty = 'no data yet' }) {
  const now = samples.length ? samples[samples.length - 1].t : Date.now();
  const t0 = now - windowMs;
  const pts = samples.filter((p) => p.t >= t0 && p.v !== null && p.v !== undefined);
  let top = 0;
  for (const p of pts) top = Math.max(top, p.v, p.max || 0);
  if (top <= 0) top = 1;
  const x = (t) => PAD.l + ((t - t0) / windowMs) * (W - PAD.l - PAD.r);
  const y = (v) => H - PAD.b - (v / top) * (H - PAD.t - PAD.b);

  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': title },
    s('line', { x1: PAD.l, y1: y(0), x2: W - PAD.r, y2: y(0), class: 'axis' }),
    s('text', { x: PAD.l - 4, y: y(top) + 4, class: 'tick', 'text-anchor': 'end' }, fmt(top)),
    s('text', { x: PAD.l - 4, y: y(0), class: 'tick', 'text-anchor': 'end' }, fmt(0)),
    s('text', { x: PAD.l, y: H - 4, class: 'tick' }, `-${Math.round(windowMs / 60000)} min`),
    s('text', { x: W - PAD.r, y: H - 4, class: 'tick', 'text-anchor': 'end' }, 'now'));
  if (pts.length > 0) {
    const line = pts.map((p, i) => `${i ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join('');
    const area = `${line}L${x(pts[pts.length - 1].t).toFixed(1)},${y(0)}L${x(pts[0].t).toFixed(1)},${y(0)}Z`;
    svg.append(s('path', { d: area, class: 'area' }), s('path', { d: line, class: 'line' }));
    const withMax = pts.filter((p) => p.max);
    if (withMax.length) {
      const maxLine = withMax.map((p, i) => `${i ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p.max).toFixed(1)}`).join('');
      svg.append(s('path', { d: maxLine, class: 'max' }));
    }
  }
  const last = pts[pts.length - 1];
  const caption = last ? `${fmt(last.v)}${last.max ? ' of ' + fmt(last.max) : ''}` : empty;
  return h('figure', { class: 'chart-box', testid },
    h('figcaption', {}, h('span', {}, title), h('span', { class: 'muted' }, caption)), svg);
}

// bar shows used of total as a horizontal bar with text.
export function bar(used, total, label) {
  const frac = total > 0 ? Math.min(1, Math.max(0, used / total)) : 0;
  return h('div', { class: 'bar', title: label },
    h('div', { class: 'bar-fill', style: { width: `${(frac * 100).toFixed(1)}%` } }),
    h('span', { class: 'bar-text' }, label));
}
