// The work one answer comparison may do, counted in steps instead of milliseconds.
//
// A clock budget made verdicts depend on the machine's load: a true case that needed a simplification
// could grade false while another job held the cores. Steps are charged by the size of what each check
// handles (comparisons, parsed characters, expression nodes), so the same pair always gets the same
// verdict, and the work is still bounded: once the steps are spent, every further check says "different".

/**
 * Steps one comparison may spend: a step is about a microsecond of work (see symbolic.ts), so this is the
 * old 250 ms clock budget on an idle machine. The largest true comparison among the grader tests takes
 * ~6,000 steps; a 24-item list of long expressions past the budget stops after 0.1–0.7 s on the shared
 * 2-core machine (bench/NOTES.md, "Grader speed").
 */
export const COMPARE_BUDGET_STEPS = 250_000;

export class WorkBudget {
  private left: number;
  private readonly charged = new Set<string>();

  constructor(steps: number = COMPARE_BUDGET_STEPS) {
    this.left = steps;
  }

  /** Takes `steps` from the budget; false (and the budget spent) when fewer were left. */
  spend(steps: number): boolean {
    if (this.left < steps) {
      this.left = 0;
      return false;
    }
    this.left -= steps;
    return true;
  }

  /**
   * Takes `steps` the first time `key` is charged in this comparison, nothing after: work whose result is
   * cached (parsing a string) costs once per comparison, whatever the cache held before, so the verdict
   * never depends on what was graded earlier.
   */
  spendOnce(key: string, steps: number): boolean {
    if (this.charged.has(key)) return true;
    this.charged.add(key);
    return this.spend(steps);
  }

  get remaining(): number {
    return this.left;
  }
}
