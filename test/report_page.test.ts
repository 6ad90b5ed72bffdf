// report.html as a page: real tables, round axis ticks, highlighted rollouts, an honest noise paragraph,
// and, in a real headless browser, a page that loads cleanly and reads at 1280 px without sideways scrolling.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hfReportHtml } from '../src/loop/hf/report_files.ts';
import { gainReading, highlightRollout, reportPage } from '../src/loop/report_page.ts';
import { controlReading, reportHtml } from '../src/loop/report_files.ts';
import { barChart, niceTicks } from '../src/loop/svg_chart.ts';

const work = mkdtempSync(join(tmpdir(), 'still-report-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const toyReport = JSON.parse(readFileSync('examples/demo-run/report.json', 'utf8'));
const hfReport = JSON.parse(readFileSync('examples/still2-tiny-run/report.json', 'utf8'));

describe('the report page', () => {
  it('renders the Markdown tables as HTML tables, with the charts after the first one and no Markdown left in a <pre>', () => {
    const html = reportHtml(toyReport);
    expect((html.match(/<table>/g) ?? []).length).toBe(2); // rounds, Table 2
    expect(html).toContain('<th>setting</th>');
    expect(html).toMatch(/<\/table><\/div><div class="charts"><svg/);
    expect(html).not.toMatch(/\|---/);
    expect((html.match(/<svg/g) ?? []).length).toBe(4); // accuracy, pool, thought length, Table 2 bars
    expect(html).not.toMatch(/<script|(src|href)="?https?:/); // self-contained: nothing to fetch, nothing to run
    const hf = hfReportHtml(hfReport);
    expect((hf.match(/<table>/g) ?? []).length).toBeGreaterThanOrEqual(3); // accuracy, exploration, time
    expect(hf).toContain('<p class="reading">On test level 4 (250 held-out problems), greedy accuracy went from 32.4% to 48.4% (+16.0 points)');
  });

  it('axes tick at round values', () => {
    expect(niceTicks(100)).toEqual([0, 20, 40, 60, 80, 100]);
    expect(niceTicks(53.4)).toEqual([0, 20, 40, 60]);
    expect(niceTicks(0.275)).toEqual([0, 0.1, 0.2, 0.3]);
    expect(niceTicks(1234)).toEqual([0, 500, 1000, 1500]);
    expect(niceTicks(3, 5, true)).toEqual([0, 1, 2, 3]);
    const html = reportHtml(toyReport);
    expect(html).not.toMatch(/>(26\.7|53\.4|0\.275)</);
  });

  it('sets apart the thought, the solution and each caught slip of a rollout', () => {
    const html = highlightRollout('&lt;|begin_of_thought|&gt;8+9+0=16 4+:694\nWait, 8+9+0=17 4+:794&lt;|end_of_thought|&gt;&lt;|begin_of_solution|&gt;\\boxed{794}&lt;|end_of_solution|&gt;');
    expect(html).toBe('<span class="tag">&lt;|begin_of_thought|&gt;</span><span class="thought">8+9+0=16 4+:694\n<mark>Wait, 8+9+0=17 4+:794</mark></span>' +
      '<span class="tag">&lt;|end_of_thought|&gt;</span><span class="tag">&lt;|begin_of_solution|&gt;</span><span class="solution">\\boxed{794}</span><span class="tag">&lt;|end_of_solution|&gt;</span>');
  });

  it('draws Table 2 as bars with 95% whiskers and a ± column, and compares exploring with the equal-compute control', () => {
    const html = reportHtml(toyReport);
    expect(html).toContain('Table 2: level-4 greedy accuracy, with 95% intervals');
    expect(html).toMatch(/<th align="right">± \(L4\)<\/th>/);
    // One whisker (three lines) per Table 2 row.
    const others = ['c', 'd', 'e'].map((label) => ({ label, value: 5 }));
    const bars = barChart({ title: 't', yLabel: '%', yMax: 100, bars: [{ label: 'a', value: 40, halfWidth: 10 }, { label: 'b long label words', value: 20 }, ...others] });
    expect((bars.match(/<rect x=/g) ?? []).length).toBe(5);
    expect((bars.match(/stroke-width="1.5"/g) ?? []).length).toBe(3); // a whisker for the bar that has one
    expect(bars).toContain('>b long label</text>'); // labels wrap under their bar
    expect(bars).toContain('>words</text>');
    const row = (setting: string, l4: number) => ({ setting, distilled: 1, explored: 0, steps: 1, byLevel: { 4: l4 }, n: { 4: 200 }, mean: l4 });
    const report = (explore: number, control: number) => ({ ...toyReport, hardestLevel: 4, ablation: [row('small + explore (3 rounds)', explore), row('distill only (small), equal compute', control)] });
    expect(controlReading(report(39.5, 39.5))).toContain('within the noise, so this run cannot tell exploration from more training');
    expect(controlReading(report(60, 40))).toContain('+20.0 points, noise ±9.6): exploration did more than the extra training.');
    expect(controlReading(report(20, 40))).toContain('the extra training alone did better than exploring.');
    expect(controlReading({ ...toyReport, ablation: [] })).toBeNull();
  });

  it('says whether the headline change is outside the noise of its sample size', () => {
    expect(gainReading('level 4', 17.5, 55, 40)).toContain('±19.4 (95% intervals): the change is larger than that noise.');
    expect(gainReading('level 3', 72, 60, 25)).toContain('the change is within that noise, so this run alone does not show a difference');
  });
});

// Debian's chromium (apt-get install chromium); .ci/run installs it and sets STILL_REQUIRE_BROWSER=1.
const chromium = ['chromium', 'chromium-browser'].find((c) => spawnSync(c, ['--version']).status === 0);
const required = process.env.STILL_REQUIRE_BROWSER === '1';
if (required && !chromium) throw new Error('STILL_REQUIRE_BROWSER=1 but no chromium is installed (apt-get install -y chromium)');

describe.skipIf(!chromium)('report.html in a headless browser', () => {
  it('loads without console errors, shows its tables and charts, and fits 1280 px with body text ≥ 14 px', () => {
    for (const [name, html] of [['toy', reportHtml(toyReport)], ['hf', hfReportHtml(hfReport)]] as const) {
      // The measured copy gets a script that writes the layout into the DOM chromium dumps.
      const measure = '<script>addEventListener("load",()=>{const d=document.documentElement,b=getComputedStyle(document.body);' +
        'document.body.setAttribute("data-layout",JSON.stringify({scrollWidth:d.scrollWidth,clientWidth:d.clientWidth,font:parseFloat(b.fontSize),' +
        'tables:document.querySelectorAll("table").length,charts:document.querySelectorAll("svg").length}))})</script>';
      const file = join(work, `${name}.html`);
      writeFileSync(file, html.replace('</body>', `${measure}</body>`));
      const r = spawnSync(chromium!, ['--headless', '--no-sandbox', '--disable-gpu', '--window-size=1280,900', '--enable-logging=stderr', '--v=0',
        '--virtual-time-budget=2000', '--dump-dom', `file://${file}`], { encoding: 'utf8', timeout: 60_000 });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).not.toMatch(/CONSOLE|Uncaught|Failed to load resource/);
      const layout = JSON.parse((r.stdout.match(/data-layout="([^"]*)"/)?.[1] ?? 'null').replace(/&quot;/g, '"'));
      expect(layout, `${name}: the page did not finish loading`).not.toBeNull();
      expect(layout.scrollWidth, `${name}: sideways scrolling at 1280 px`).toBeLessThanOrEqual(layout.clientWidth);
      expect(layout.font).toBeGreaterThanOrEqual(14);
      expect(layout.tables).toBeGreaterThanOrEqual(2);
      expect(layout.charts).toBeGreaterThanOrEqual(3);
    }
  }, 120_000);
});
