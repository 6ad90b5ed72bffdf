// The preference losses of `still dpo`, as plain float64 functions of sequence log-probs: the value and
// its derivative with respect to the policy's summed log-probs. The model side (dpo_step.ts) turns those
// derivatives into a seed gradient on the per-token log-probs, so the whole loss is one backward pass.
//
//   z = (log π(chosen) − log π(rejected)) − (log ref(chosen) − log ref(rejected))
//   sigmoid (Rafailov et al. 2023):   −(1−ε)·log σ(β z) − ε·log σ(−β z)   (ε = label smoothing, cDPO)
//   ipo     (Azar et al. 2023):       (z − 1/(2β))², on log-probs averaged per token (as TRL does)
//
// Names and conventions follow TRL's DPOTrainer, so numbers and logs read the same: rewards are
// β·(log π − log ref), accuracies count pairs whose chosen reward beats the rejected one (strictly).
export const DPO_LOSS_TYPES = ['sigmoid', 'ipo'] as const;
export type DpoLossType = (typeof DPO_LOSS_TYPES)[number];

export interface DpoLossOptions {
  beta: number;
  lossType: DpoLossType;
  /** cDPO: the share of preference labels assumed flipped (sigmoid only), in [0, 0.5). */
  labelSmoothing: number;
}

/** One pair's summed log-probs over its scored tokens, under the policy and the reference, and the token counts. */
export interface PairLogps {
  chosen: number;
  rejected: number;
  refChosen: number;
  refRejected: number;
  chosenTokens: number;
  rejectedTokens: number;
}

export interface PairLoss {
  loss: number;
  /** ∂loss/∂(summed policy log-prob of the chosen completion). */
  dChosen: number;
  dRejected: number;
  rewardChosen: number;
  rewardRejected: number;
  /** The policy log-probs as the loss sees them (per-token means for IPO, sums otherwise). */
  logpChosen: number;
  logpRejected: number;
}

/** log σ(x) without overflow on either side. */
export function logSigmoid(x: number): number {
  return x < 0 ? x - Math.log1p(Math.exp(x)) : -Math.log1p(Math.exp(-x));
}

function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

export function checkDpoLossOptions(o: DpoLossOptions): void {
  if (!(o.beta > 0 && Number.isFinite(o.beta))) throw new Error(`dpo: beta must be a positive number, got ${o.beta}`);
  if (!DPO_LOSS_TYPES.includes(o.lossType)) throw new Error(`dpo: loss type must be one of ${DPO_LOSS_TYPES.join(', ')}, got '${o.lossType}'`);
  if (!(o.labelSmoothing >= 0 && o.labelSmoothing < 0.5)) throw new Error(`dpo: label smoothing must be in [0, 0.5), got ${o.labelSmoothing}`);
  if (o.lossType === 'ipo' && o.labelSmoothing > 0) throw new Error('dpo: label smoothing applies to the sigmoid loss only, not to ipo');
}

export function dpoPairLoss(p: PairLogps, o: DpoLossOptions): PairLoss {
  // IPO scores the length-normalized log-probs; the chain rule through the mean divides by the count.
  const ipo = o.lossType === 'ipo';
  const nc = ipo ? Math.max(p.chosenTokens, 1) : 1;
  const nr = ipo ? Math.max(p.rejectedTokens, 1) : 1;
  const pc = p.chosen / nc;
  const pr = p.rejected / nr;
  const rc = p.refChosen / nc;
  const rr = p.refRejected / nr;
  const z = pc - pr - (rc - rr);
  let loss: number;
  let dz: number;
  if (ipo) {
    const d = z - 1 / (2 * o.beta);
    loss = d * d;
    dz = 2 * d;
  } else {
    const e = o.labelSmoothing;
    const bz = o.beta * z;
    loss = -(1 - e) * logSigmoid(bz) - e * logSigmoid(-bz);
    dz = o.beta * (-(1 - e) * sigmoid(-bz) + e * sigmoid(bz));
  }
  return {
    loss, dChosen: dz / nc, dRejected: -dz / nr,
    rewardChosen: o.beta * (pc - rc), rewardRejected: o.beta * (pr - rr), logpChosen: pc, logpRejected: pr,
  };
}

/** The TRL metrics of a set of pairs, averaged over them. */
export interface DpoMetrics {
  loss: number;
  'rewards/chosen': number;
  'rewards/rejected': number;
  'rewards/margins': number;
  'rewards/accuracies': number;
  'logps/chosen': number;
  'logps/rejected': number;
  /** The chosen side's mean token NLL (reported when the NLL term is on). */
  nll_loss?: number;
}

/** Running sums of the metrics; `mean()` divides by the pairs seen. */
export class DpoMetricSums {
  pairs = 0;
  loss = 0;
  private chosen = 0;
  private rejected = 0;
  private correct = 0;
  private logpChosen = 0;
  private logpRejected = 0;
  private nll = 0;
  private nllTokens = 0;

  addPair(l: PairLoss): void {
    this.pairs++;
    this.chosen += l.rewardChosen;
    this.rejected += l.rewardRejected;
    if (l.rewardChosen > l.rewardRejected) this.correct++;
    this.logpChosen += l.logpChosen;
    this.logpRejected += l.logpRejected;
  }

  addNll(sum: number, tokens: number): void {
    this.nll += sum;
    this.nllTokens += tokens;
  }

  mean(withNll: boolean): DpoMetrics {
    const n = Math.max(this.pairs, 1);
    const m: DpoMetrics = {
      loss: this.loss,
      'rewards/chosen': this.chosen / n,
      'rewards/rejected': this.rejected / n,
      'rewards/margins': (this.chosen - this.rejected) / n,
      'rewards/accuracies': this.correct / n,
      'logps/chosen': this.logpChosen / n,
      'logps/rejected': this.logpRejected / n,
    };
    if (withNll) m.nll_loss = this.nll / Math.max(this.nllTokens, 1);
    return m;
  }
}
