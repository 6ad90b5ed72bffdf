// A small self-contained SVG line chart (no dependencies, no scripts), for the report pages.
export interface ChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  x: number[];
  series: { name: string; y: number[] }[];
  /** Fixed top of the y axis (e.g. 100 for percentages); default: the data's maximum. */
  yMax?: number;
  /** Counts: ticks at whole numbers only. */
  integer?: boolean;
}

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

export function lineChart(c: ChartSpec): string {
  const W = 640;
  const H = 300;
  const m = { l: 56, r: 90, t: 30, b: 40 };
  const xs = c.x.length > 1 ? c.x : [c.x[0] ?? 0, (c.x[0] ?? 0) + 1];
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const ticks = niceTicks(c.yMax ?? Math.max(1, ...c.series.flatMap((s) => s.y)), 5, c.integer);
  const yTop = ticks.at(-1)!;
  const px = (x: number) => m.l + ((x - x0) / (x1 - x0 || 1)) * (W - m.l - m.r);
  const py = (y: number) => H - m.b - (y / yTop) * (H - m.t - m.b);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="18" text-anchor="middle" font-size="14">${escapeXml(c.title)}</text>`,
    `<line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="#333"/>`,
    `<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${H - m.b}" stroke="#333"/>`,
    `<text x="${(W - m.r + m.l) / 2}" y="${H - 6}" text-anchor="middle">${c.xLabel}</text>`,
    `<text x="14" y="${H / 2}" text-anchor="middle" transform="rotate(-90 14 ${H / 2})">${c.yLabel}</text>`,
  ];
  for (const y of ticks) {
    out.push(`<line x1="${m.l}" y1="${py(y)}" x2="${W - m.r}" y2="${py(y)}" stroke="#eee"/>`,
      `<text x="${m.l - 6}" y="${py(y) + 4}" text-anchor="end">${y}</text>`);
  }
  for (const x of c.x) out.push(`<text x="${px(x)}" y="${H - m.b + 16}" text-anchor="middle">${x}</text>`);
  c.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const pts = s.y.map((y, j) => `${px(c.x[j])},${py(y)}`).join(' ');
    out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts}"/>`);
    s.y.forEach((y, j) => out.push(`<circle cx="${px(c.x[j])}" cy="${py(y)}" r="3" fill="${color}"/>`));
    out.push(`<text x="${W - m.r + 8}" y="${m.t + 14 + i * 16}" fill="${color}">${escapeXml(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

/**
 * Axis ticks from 0 at a round step (1, 2 or 5 times a power of ten), about five of them, the last at or
 * above `max`: an axis reads 0 / 20 / 40 / 60, not 0.275 / 26.7 / 53.4.
 */
export function niceTicks(max: number, about = 5, integer = false): number[] {
  const raw = Math.max(max, 1e-9) / about;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = Math.max(integer ? 1 : 0, [1, 2, 5, 10].map((f) => f * power).find((s) => s >= raw)!);
  const count = Math.ceil(max / step - 1e-9);
  return Array.from({ length: Math.max(count, 1) + 1 }, (_, i) => Number((i * step).toPrecision(12)));
}

export interface BarSpec {
  title: string;
  yLabel: string;
  bars: { label: string; value: number; /** Half-width of the whisker drawn around the value. */ halfWidth?: number }[];
  /** Fixed top of the y axis (e.g. 100 for percentages). */
  yMax?: number;
}

/** Bars with optional ± whiskers (a 95% interval, say), labels wrapped under each bar. */
export function barChart(c: BarSpec): string {
  const W = 640;
  const H = 300;
  const m = { l: 56, r: 16, t: 30, b: 64 };
  const ticks = niceTicks(c.yMax ?? Math.max(1, ...c.bars.map((b) => b.value + (b.halfWidth ?? 0))), 5);
  const yTop = ticks.at(-1)!;
  const py = (y: number) => H - m.b - (Math.min(Math.max(y, 0), yTop) / yTop) * (H - m.t - m.b);
  const slot = (W - m.l - m.r) / Math.max(c.bars.length, 1);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="18" text-anchor="middle" font-size="14">${escapeXml(c.title)}</text>`,
    `<text x="14" y="${(H - m.b + m.t) / 2}" text-anchor="middle" transform="rotate(-90 14 ${(H - m.b + m.t) / 2})">${escapeXml(c.yLabel)}</text>`,
  ];
  for (const y of ticks) {
    out.push(`<line x1="${m.l}" y1="${py(y)}" x2="${W - m.r}" y2="${py(y)}" stroke="#eee"/>`,
      `<text x="${m.l - 6}" y="${py(y) + 4}" text-anchor="end">${y}</text>`);
  }
  out.push(`<line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="#333"/>`);
  c.bars.forEach((b, i) => {
    const cx = m.l + slot * (i + 0.5);
    const w = Math.min(70, slot * 0.6);
    out.push(`<rect x="${cx - w / 2}" y="${py(b.value)}" width="${w}" height="${H - m.b - py(b.value)}" fill="${COLORS[i % COLORS.length]}" opacity="0.85"/>`);
    if (b.halfWidth) {
      const [lo, hi] = [py(b.value - b.halfWidth), py(b.value + b.halfWidth)];
      out.push(`<line x1="${cx}" y1="${lo}" x2="${cx}" y2="${hi}" stroke="#222" stroke-width="1.5"/>`,
        `<line x1="${cx - 8}" y1="${lo}" x2="${cx + 8}" y2="${lo}" stroke="#222" stroke-width="1.5"/>`,
        `<line x1="${cx - 8}" y1="${hi}" x2="${cx + 8}" y2="${hi}" stroke="#222" stroke-width="1.5"/>`);
    }
    out.push(`<text x="${cx + w / 2 + 3}" y="${py(b.value) + 14}" font-size="11">${b.value.toFixed(1)}</text>`);
    wrap(b.label, Math.max(8, Math.floor(slot / 7))).forEach((line, j) =>
      out.push(`<text x="${cx}" y="${H - m.b + 16 + j * 14}" text-anchor="middle" font-size="11">${escapeXml(line)}</text>`));
  });
  out.push('</svg>');
  return out.join('\n');
}

/** Words of `text` in lines of at most `width` characters (a longer word gets a line of its own). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  for (const word of text.split(/\s+/)) {
    const last = lines.length - 1;
    if (last >= 0 && lines[last].length + 1 + word.length <= width) lines[last] += ` ${word}`;
    else lines.push(word);
  }
  return lines;
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
