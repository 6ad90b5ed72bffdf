// The work one answer comparison may do, counted in steps instead of milliseconds.
//
// A clock budget made verdicts depend on the machine's load: a true case that needed a simplification
// could grade false while another job held the cores. Steps are charged by the size of what each check
// handles (comparisons, parsed characters, expression nodes), so the same pair always gets the same
// verdict, and the work is still bounded: once the steps are spent, every further check says "different".

/** Steps one comparison may spend; measured in bench/grade_speed.ts to keep the worst case near 1 s. */
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
