// report.html as a page a teacher can put on a projector: the report's Markdown rendered as HTML (real
// tables, headings, lists), the charts after the first table, rollouts with the thought, the solution and
// each caught slip ("Wait, …") set apart, and a short paragraph on what the numbers show and how noisy they
// are. Self-contained (inline CSS and SVG, no scripts, no network) and readable at 1280 px: wide tables
// scroll inside their own box, code wraps, body text is 16 px. Shared by the toy and the HF reports.
import { Marked, type Tokens } from 'marked';

export interface ReportPage {
  title: string;
  /** The report as Markdown (report.md). */
  markdown: string;
  /** Inline SVG charts, placed after the first table. */
  charts: readonly string[];
  /** What the numbers show and how noisy they are, one paragraph of plain text; placed after the title. */
  reading?: string | null;
}

const CSS = `
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d1d1f;max-width:1180px;margin:2rem auto;padding:0 1.5rem}
h1{font-size:1.8rem;margin-bottom:.3rem}h2{font-size:1.35rem;margin-top:2.2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
.reading{background:#f3f7fc;border-left:4px solid #1f77b4;padding:.8rem 1rem;margin:1rem 0}
.table{overflow-x:auto;margin:1rem 0}table{border-collapse:collapse;font-variant-numeric:tabular-nums}
th,td{padding:.3rem .55rem;border-bottom:1px solid #e3e3e3}td{white-space:nowrap}th{background:#fafafa;vertical-align:bottom}
tbody tr:hover{background:#fafcff}.charts{display:flex;flex-wrap:wrap;gap:1rem;margin:1rem 0}.charts svg{box-sizing:border-box;width:calc(50% - .5rem);min-width:420px;height:auto;border:1px solid #eee}
pre{background:#f7f7f7;padding:1rem;border-radius:6px;white-space:pre-wrap;word-break:break-word;font-size:14px}
code{font:14px ui-monospace,Menlo,Consolas,monospace}.tag{color:#888}.thought{color:#234}.solution{background:#e9f6ec}
mark{background:#fff1b8;padding:0 .1em}`;

/** The whole page. */
export function reportPage(p: ReportPage): string {
  let body = markdownRenderer().parse(p.markdown, { async: false });
  const charts = p.charts.length ? `<div class="charts">${p.charts.join('\n')}</div>` : '';
  const firstTable = body.indexOf('</table></div>');
  body = firstTable < 0 ? body + charts : body.slice(0, firstTable + 14) + charts + body.slice(firstTable + 14);
  const reading = p.reading ? `<p class="reading">${escapeHtml(p.reading)}</p>` : '';
  const afterTitle = body.indexOf('</h1>');
  if (afterTitle >= 0) body = body.slice(0, afterTitle + 5) + reading + body.slice(afterTitle + 5);
  else body = reading + body;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(p.title)}</title><style>${CSS}</style></head>
<body>
${body}
</body></html>
`;
}

/** Marked with the page's choices: tables in a scrolling box, STILL-2 rollouts highlighted. */
function markdownRenderer(): Marked {
  const marked = new Marked({ gfm: true });
  marked.use({
    renderer: {
      code(token: Tokens.Code): string {
        return `<pre><code>${highlightRollout(escapeHtml(token.text))}</code></pre>\n`;
      },
    },
    hooks: {
      postprocess: (html: string) => html.replace(/<table>/g, '<div class="table"><table>').replace(/<\/table>/g, '</table></div>'),
    },
  });
  return marked;
}

/** Set apart the thought, the solution and each caught slip of an (HTML-escaped) STILL-2 rollout. */
export function highlightRollout(escaped: string): string {
  const tag = (name: string) => `&lt;|${name}|&gt;`;
  return escaped
    // A caught slip runs from "Wait," to the end of its line (or the next tag).
    .replace(/Wait,(?:(?!&lt;\|)[^\n])*/g, (m) => `<mark>${m}</mark>`)
    .replace(new RegExp(`${escapeRe(tag('begin_of_thought'))}([\\s\\S]*?)(${escapeRe(tag('end_of_thought'))}|$)`, 'g'),
      (_m, inner: string, end: string) => `<span class="tag">${tag('begin_of_thought')}</span><span class="thought">${inner}</span>${end ? `<span class="tag">${end}</span>` : ''}`)
    .replace(new RegExp(`${escapeRe(tag('begin_of_solution'))}([\\s\\S]*?)(${escapeRe(tag('end_of_solution'))}|$)`, 'g'),
      (_m, inner: string, end: string) => `<span class="tag">${tag('begin_of_solution')}</span><span class="solution">${inner}</span>${end ? `<span class="tag">${end}</span>` : ''}`);
}

/**
 * The 95% interval's half-width, in points, of a difference between two accuracies (percent) measured
 * on n problems each (normal approximation; independent samples, so a bound for paired ones).
 */
export function differenceHalfWidth(p0: number, p1: number, n0: number, n1: number): number {
  const v = (p: number, n: number) => (n > 0 ? ((p / 100) * (1 - p / 100)) / n : 0);
  return 196 * Math.sqrt(v(p0, n0) + v(p1, n1));
}

/** The 95% half-width, in points, of one accuracy (percent) on n problems. */
export function accuracyHalfWidth(p: number, n: number): number {
  return n > 0 ? 196 * Math.sqrt(((p / 100) * (1 - p / 100)) / n) : 0;
}

/** The reading paragraph for a run's headline number: the change at its hard split, and whether it is above the noise. */
export function gainReading(split: string, before: number, after: number, problems: number): string {
  const gain = after - before;
  const one = accuracyHalfWidth(Math.max(before, after), problems);
  const diff = differenceHalfWidth(before, after, problems, problems);
  return `On ${split} (${problems} held-out problems), greedy accuracy went from ${before.toFixed(1)}% to ${after.toFixed(1)}% ` +
    `(${gain >= 0 ? '+' : ''}${gain.toFixed(1)} points). With ${problems} problems each accuracy is uncertain by about ±${one.toFixed(1)} points ` +
    `and the difference of two by ±${diff.toFixed(1)} (95% intervals): ${Math.abs(gain) > diff
      ? 'the change is larger than that noise.'
      : 'the change is within that noise, so this run alone does not show a difference; more problems or more seeds would.'}`;
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
