/**
 * Bar charts drawn on the server as SVG: no chart library, no script. Each bar carries its label
 * and value (`data-label`, `data-value`, and a `<title>` for a tooltip), and each chart has the
 * same numbers as a table below it for screen readers and for copying.
 */
import { html, raw, table, type Html } from './html.ts';

export interface Bar {
  label: string;
  value: number;
}

export function barChart(id: string, title: string, bars: readonly Bar[]): Html {
  const width = 720;
  const height = 180;
  const pad = { top: 10, bottom: 34, left: 44, right: 8 };
  const max = Math.max(1, ...bars.map((b) => b.value));
  const slot = bars.length ? (width - pad.left - pad.right) / bars.length : 0;
  const bw = Math.max(2, slot * 0.75);
  const plotH = height - pad.top - pad.bottom;
  const everyNth = Math.max(1, Math.ceil(bars.length / 24));
  const rects = bars.map((b, i) => {
    const h = (b.value / max) * plotH;
    const x = pad.left + i * slot + (slot - bw) / 2;
    const y = pad.top + plotH - h;
    return html`<g class="bar" data-label="${b.label}" data-value="${b.value}"><rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${bw.toFixed(1)}" height="${Math.max(0, h).toFixed(1)}"><title>${b.label}: ${b.value.toLocaleString('en-US')}</title></rect>${
      i % everyNth === 0 ? html`<text x="${(x + bw / 2).toFixed(1)}" y="${height - pad.bottom + 14}" text-anchor="middle">${b.label.length > 10 ? `${b.label.slice(0, 9)}…` : b.label}</text>` : ''
    }</g>`;
  });
  const titleId = `${id}-title`;
  return html`<figure class="chart" id="${id}">
<figcaption id="${titleId}">${title}</figcaption>
<svg viewBox="0 0 ${width} ${height}" role="img" aria-labelledby="${titleId}" preserveAspectRatio="xMinYMin meet">
<line x1="${pad.left}" y1="${pad.top + plotH}" x2="${width - pad.right}" y2="${pad.top + plotH}" class="axis"></line>
<text x="${pad.left - 6}" y="${pad.top + 8}" text-anchor="end" class="tick">${max.toLocaleString('en-US')}</text>
<text x="${pad.left - 6}" y="${pad.top + plotH}" text-anchor="end" class="tick">0</text>
${rects}
</svg>
<details><summary>The numbers</summary>${table(title, ['', 'count'], bars.map((b) => [b.label, b.value.toLocaleString('en-US')]), raw(`data-chart="${id}"`))}</details>
</figure>`;
}

/** Bars from a map of counts, largest first (or in key order). */
export function barsOf(counts: Readonly<Record<string, number>>, order: 'value' | 'key' = 'value'): Bar[] {
  const bars = Object.entries(counts).map(([label, value]) => ({ label, value }));
  return order === 'key' ? bars.sort((a, b) => (a.label < b.label ? -1 : 1)) : bars.sort((a, b) => b.value - a.value || (a.label < b.label ? -1 : 1));
}
