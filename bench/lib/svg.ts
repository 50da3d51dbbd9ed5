/**
 * A tiny SVG bar chart generator (no dependencies): horizontal grouped bars on a log10 scale, one
 * panel per chart, stacked vertically in one SVG document.
 */

export interface Series {
  name: string;
  color: string;
}

export interface BarGroup {
  label: string;
  /** One value per series (undefined: not measured; null: not applicable, nothing drawn). */
  values: Array<number | null | undefined>;
}

export interface Panel {
  title: string;
  unit: string;
  series: Series[];
  groups: BarGroup[];
}

const WIDTH = 900;
const LABEL_W = 280;
const RIGHT_PAD = 90;
const BAR_H = 14;
const BAR_GAP = 3;
const GROUP_GAP = 10;
const TITLE_H = 46;
const AXIS_H = 26;

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function formatValue(v: number): string {
  if (v >= 100) return Math.round(v).toLocaleString('en-US');
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

function panelHeight(p: Panel): number {
  const groupH = p.series.length * (BAR_H + BAR_GAP) + GROUP_GAP;
  return TITLE_H + p.groups.length * groupH + AXIS_H + 10;
}

function renderPanel(p: Panel, top: number): string {
  const values = p.groups.flatMap((g) => g.values).filter((v): v is number => typeof v === 'number' && Number.isFinite(v) && v > 0);
  const lo = Math.floor(Math.log10(Math.min(...values, 1)));
  const hi = Math.ceil(Math.log10(Math.max(...values, 10)));
  const plotW = WIDTH - LABEL_W - RIGHT_PAD;
  const x = (v: number): number => LABEL_W + ((Math.log10(v) - lo) / (hi - lo || 1)) * plotW;
  const out: string[] = [];
  out.push(`<g transform="translate(0,${top})">`);
  out.push(`<text x="10" y="20" font-size="15" font-weight="bold">${esc(p.title)}<tspan dx="8" font-size="11" font-weight="normal" fill="#555">(log scale)</tspan></text>`);
  // Legend.
  let lx = 10;
  for (const s of p.series) {
    out.push(`<rect x="${lx}" y="29" width="10" height="10" fill="${s.color}"/><text x="${lx + 14}" y="38" font-size="11">${esc(s.name)}</text>`);
    lx += 24 + s.name.length * 6.5;
  }
  const groupH = p.series.length * (BAR_H + BAR_GAP) + GROUP_GAP;
  const plotBottom = TITLE_H + p.groups.length * groupH;
  // Grid at powers of ten.
  for (let e = lo; e <= hi; e++) {
    const gx = x(10 ** e);
    out.push(`<line x1="${gx.toFixed(1)}" y1="${TITLE_H - 4}" x2="${gx.toFixed(1)}" y2="${plotBottom}" stroke="#ddd"/>`);
    out.push(`<text x="${gx.toFixed(1)}" y="${plotBottom + 16}" font-size="10" text-anchor="middle" fill="#555">${esc(formatValue(10 ** e))}</text>`);
  }
  p.groups.forEach((g, gi) => {
    const gy = TITLE_H + gi * groupH;
    const labelY = gy + (p.series.length * (BAR_H + BAR_GAP)) / 2 + 4;
    out.push(`<text x="${LABEL_W - 8}" y="${labelY.toFixed(1)}" font-size="12" text-anchor="end">${esc(g.label)}</text>`);
    g.values.forEach((v, si) => {
      const by = gy + si * (BAR_H + BAR_GAP);
      const series = p.series[si] as Series;
      if (v === null) return;
      if (v === undefined || !Number.isFinite(v) || v <= 0) {
        out.push(`<text x="${LABEL_W + 4}" y="${by + BAR_H - 3}" font-size="10" fill="#999">${esc(series.name)}: not measured</text>`);
        return;
      }
      const w = Math.max(1, x(v) - LABEL_W);
      out.push(`<rect x="${LABEL_W}" y="${by}" width="${w.toFixed(1)}" height="${BAR_H}" fill="${series.color}"><title>${esc(`${g.label} ${series.name}: ${formatValue(v)} ${p.unit}`)}</title></rect>`);
      out.push(`<text x="${(LABEL_W + w + 4).toFixed(1)}" y="${by + BAR_H - 3}" font-size="10">${esc(formatValue(v))}</text>`);
    });
  });
  out.push('</g>');
  return out.join('\n');
}

export function renderChart(title: string, panels: Panel[]): string {
  let top = 34;
  const body: string[] = [];
  for (const p of panels) {
    body.push(renderPanel(p, top));
    top += panelHeight(p);
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${top}" viewBox="0 0 ${WIDTH} ${top}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="22" font-size="17" font-weight="bold">${esc(title)}</text>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}
