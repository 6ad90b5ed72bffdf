// The work one answer comparison may do, counted in steps instead of milliseconds.
//
// A clock budget made verdicts depend on the machine's load: a true case that needed a simplification
// could grade false while another job held the cores. Steps are charged by the size of what each check
// handles (comparisons, parsed characters, expression nodes), so the same pair always gets the same
// verdict, and the work is still bounded: once the steps are spent, every further check says "different".

/**
 * Steps one comparison may spend. Over every gold of data/eval and data/train, graded against a rewriting
 * and a near miss, the most any comparison took was 4,609 steps (a Minerva transfer function); a hostile
 * list of 24 polynomials that would take 63,551 steps (0.4–1.3 s) stops here after 35–70 ms
 * (bench/NOTES.md, "Grader speed").
 */
export const COMPARE_BUDGET_STEPS = 20_000;

export class WorkBudget {
  private left: number;

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

  get remaining(): number {
    return this.left;
  }
}
