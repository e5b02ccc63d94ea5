// bench/results/latency.svg: latency against offered rate, one panel per
// workload, one colour per setup; p50 solid, p99 dashed, the min–max of p99
// over repeats as a whisker; log latency axis; the SLO as a red line.
import type { Results } from './results.js';
import { WORKLOAD_TITLES, type Workload } from './types.js';

const COLORS = ['#1b9e77', '#7570b3', '#e7298a', '#d95f02', '#1f78b4'];
const W = 470;
const H = 320;
const M = { l: 56, r: 14, t: 30, b: 44 };
const Y_MIN = 0.1;
const Y_MAX = 2000;

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

export function latencySvg(r: Results, sloMs: number): string {
  const cells = r.summary?.cells ?? [];
  const workloads = [...new Set(cells.map((c) => c.workload))] as Workload[];
  const cols = 2;
  const rows = Math.ceil(workloads.length / cols);
  const legendH = 48;
  const totalW = cols * W;
  const totalH = rows * H + legendH;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${totalW}" height="${totalH}" viewBox="0 0 ${totalW} ${totalH}" font-family="Helvetica, Arial, sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
  ];
  // Legend.
  r.setups.forEach((s, i) => {
    const x = 12 + i * 186;
    out.push(`<line x1="${x}" y1="14" x2="${x + 22}" y2="14" stroke="${COLORS[i % COLORS.length]}" stroke-width="2.5"/>`);
    out.push(`<text x="${x + 27}" y="18">${esc(`${s.n} ${s.key}`)}</text>`);
  });
  out.push(`<line x1="12" y1="34" x2="34" y2="34" stroke="#333" stroke-width="2"/><text x="39" y="38">p50</text>`);
  out.push(`<line x1="80" y1="34" x2="102" y2="34" stroke="#333" stroke-width="2" stroke-dasharray="5,3"/><text x="107" y="38">p99 (whisker: min–max over repeats)</text>`);
  out.push(`<line x1="320" y1="34" x2="342" y2="34" stroke="#d62728" stroke-width="1" stroke-dasharray="2,2"/><text x="347" y="38">SLO ${sloMs} ms · ✕ = p99 undefined (failures)</text>`);

  workloads.forEach((w, wi) => {
    const ox = (wi % cols) * W;
    const oy = legendH + Math.floor(wi / cols) * H;
    const mine = cells.filter((c) => c.workload === w);
    const rates = [...new Set(mine.map((c) => c.rate))].sort((a, b) => a - b);
    const xMax = Math.max(...rates) * 1.08;
    const px = (rate: number) => ox + M.l + (rate / xMax) * (W - M.l - M.r);
    const py = (v: number) => {
      const c = Math.min(Y_MAX, Math.max(Y_MIN, v));
      return oy + M.t + (1 - (Math.log10(c) - Math.log10(Y_MIN)) / (Math.log10(Y_MAX) - Math.log10(Y_MIN))) * (H - M.t - M.b);
    };
    out.push(`<text x="${ox + M.l}" y="${oy + 18}" font-size="12" font-weight="bold">${esc(WORKLOAD_TITLES[w])}</text>`);
    // Axes and grid.
    for (const v of [0.1, 1, 10, 100, 1000]) {
      out.push(`<line x1="${px(0)}" y1="${py(v)}" x2="${ox + W - M.r}" y2="${py(v)}" stroke="#e5e5e5"/>`);
      out.push(`<text x="${px(0) - 6}" y="${py(v) + 4}" text-anchor="end">${v >= 1 ? v : v}</text>`);
    }
    for (const rate of rates) {
      out.push(`<line x1="${px(rate)}" y1="${py(Y_MAX)}" x2="${px(rate)}" y2="${py(Y_MIN)}" stroke="#f0f0f0"/>`);
      out.push(`<text x="${px(rate)}" y="${oy + H - M.b + 16}" text-anchor="middle">${rate}</text>`);
    }
    out.push(`<line x1="${px(0)}" y1="${py(Y_MIN)}" x2="${ox + W - M.r}" y2="${py(Y_MIN)}" stroke="#333"/>`);
    out.push(`<line x1="${px(0)}" y1="${py(Y_MIN)}" x2="${px(0)}" y2="${py(Y_MAX)}" stroke="#333"/>`);
    out.push(`<text x="${ox + (W + M.l) / 2}" y="${oy + H - 8}" text-anchor="middle">offered rate /s (${w === 'sessions' ? 'sessions' : 'requests'})</text>`);
    out.push(`<text transform="translate(${ox + 14},${oy + (H - M.b + M.t) / 2}) rotate(-90)" text-anchor="middle">latency ms (log)</text>`);
    out.push(`<line x1="${px(0)}" y1="${py(sloMs)}" x2="${ox + W - M.r}" y2="${py(sloMs)}" stroke="#d62728" stroke-dasharray="2,2"/>`);
    // Series.
    r.setups.forEach((s, si) => {
      const color = COLORS[si % COLORS.length]!;
      const pts = mine.filter((c) => c.setup === s.key).sort((a, b) => a.rate - b.rate);
      if (!pts.length) return;
      const jitter = (si - 2) * 3; // keep whiskers of different setups apart
      for (const [key, dash] of [
        ['p50', ''],
        ['p99', ' stroke-dasharray="5,3"'],
      ] as const) {
        const finite = pts.filter((c) => Number.isFinite(c[key].median));
        if (finite.length > 1) {
          out.push(`<polyline fill="none" stroke="${color}" stroke-width="2"${dash} points="${finite.map((c) => `${(px(c.rate) + jitter).toFixed(1)},${py(c[key].median).toFixed(1)}`).join(' ')}"/>`);
        }
        for (const c of pts) {
          const x = px(c.rate) + jitter;
          if (!Number.isFinite(c[key].median)) {
            const y = py(Y_MAX) + 4;
            out.push(`<text x="${x}" y="${y + 4}" text-anchor="middle" fill="${color}" font-size="12">✕</text>`);
            continue;
          }
          const y = py(c[key].median);
          out.push(key === 'p50' ? `<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="2.6" fill="${color}"/>` : `<rect x="${(x - 2.5).toFixed(1)}" y="${(y - 2.5).toFixed(1)}" width="5" height="5" fill="${color}"/>`);
          if (key === 'p99' && c.p99.n > 1) {
            out.push(`<line x1="${x.toFixed(1)}" y1="${py(c.p99.min).toFixed(1)}" x2="${x.toFixed(1)}" y2="${py(Number.isFinite(c.p99.max) ? c.p99.max : Y_MAX).toFixed(1)}" stroke="${color}" stroke-width="1"/>`);
          }
        }
      }
    });
  });
  out.push('</svg>');
  return out.join('\n');
}
