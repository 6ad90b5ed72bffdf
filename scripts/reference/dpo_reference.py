"""The PyTorch reference for the DPO losses of `still dpo` (src/train/dpo_loss.ts, dpo_step.ts):
fixtures/dpo/reference.json, checked by test/dpo_reference.test.ts.

    /usr/bin/python3 scripts/reference/dpo_reference.py      # from the repository root (Debian's python3-torch)

Three pairs of token sequences (prompt, chosen, rejected, each completion's thought length) and seeded random
logits for their rows (one sequence per row, chosen then rejected, padded); for several settings (sigmoid DPO
with beta, label smoothing (cDPO), IPO, the thought-only mask, the NLL term on the chosen side) it computes,
independently of still-ts and the way TRL's DPOTrainer does, in float64:
  - per-token log-probs: log_softmax(logits)[t, token t+1] over each completion (its thought only when masked),
  - the loss and the TRL metrics (rewards/chosen, rewards/rejected, rewards/margins, rewards/accuracies,
    logps/chosen, logps/rejected),
  - the gradient of the loss with respect to the logits (autograd).
The logits are rounded to float32 first, so still-ts reads exactly the values the reference used.
"""
import datetime
import json
import sys

import torch
import torch.nn.functional as F

OUT = "fixtures/dpo/reference.json"
VOCAB = 11

# (prompt, chosen, rejected, chosen thought tokens, rejected thought tokens)
PAIRS = [
    ([1, 4, 2], [5, 6, 7, 3, 9], [5, 8, 3, 9], 3, 2),
    ([1, 2], [6, 6, 4, 10], [7, 4, 10, 10, 2, 9], 2, 4),
    ([1, 3, 3, 2], [8, 9], [9, 8, 5], 1, 3),
]
# Reference-model log-probs of each pair's scored tokens (given, as a cache would hold them).
SETTINGS = [
    {"name": "sigmoid", "beta": 0.1, "loss_type": "sigmoid", "label_smoothing": 0.0, "thought_only": False, "nll_weight": 0.0},
    {"name": "sigmoid_beta2_thought", "beta": 2.0, "loss_type": "sigmoid", "label_smoothing": 0.0, "thought_only": True, "nll_weight": 0.0},
    {"name": "cdpo", "beta": 0.5, "loss_type": "sigmoid", "label_smoothing": 0.2, "thought_only": False, "nll_weight": 0.0},
    {"name": "ipo", "beta": 0.1, "loss_type": "ipo", "label_smoothing": 0.0, "thought_only": False, "nll_weight": 0.0},
    {"name": "ipo_thought", "beta": 0.5, "loss_type": "ipo", "label_smoothing": 0.0, "thought_only": True, "nll_weight": 0.0},
    {"name": "sigmoid_nll_thought", "beta": 0.1, "loss_type": "sigmoid", "label_smoothing": 0.0, "thought_only": True, "nll_weight": 1.0},
]


def layout():
    seqs = []
    for prompt, chosen, rejected, ct, rt in PAIRS:
        seqs.append((prompt, chosen, ct, True))
        seqs.append((prompt, rejected, rt, False))
    cols = max(len(p) + len(c) for p, c, _, _ in seqs)
    return seqs, cols


def token_logps(logits, seqs):
    """[rows, cols] log-prob of each position's next token; 0 where there is none."""
    lp = F.log_softmax(logits, dim=-1)
    rows, cols, nexts = [], [], []
    for r, (prompt, completion, _, _) in enumerate(seqs):
        ids = prompt + completion
        for t in range(len(ids) - 1):
            rows.append(r)
            cols.append(t)
            nexts.append(ids[t + 1])
    out = torch.zeros(logits.shape[:2], dtype=logits.dtype)
    rows, cols = torch.tensor(rows), torch.tensor(cols)
    return out.index_put((rows, cols), lp[rows, cols, torch.tensor(nexts)])


def masks(seqs, cols, thought_only):
    dpo = torch.zeros(len(seqs), cols, dtype=torch.float64)
    nll = torch.zeros(len(seqs), cols, dtype=torch.float64)
    for r, (prompt, completion, thought, is_chosen) in enumerate(seqs):
        scored = thought if thought_only else len(completion)
        for j in range(len(completion)):
            at = len(prompt) + j - 1  # the position whose next token is completion[j]
            if j < scored:
                dpo[r, at] = 1
            if is_chosen:
                nll[r, at] = 1
    return dpo, nll


def dpo(logits, seqs, cols, ref, s):
    tok = token_logps(logits, seqs)
    dmask, nmask = masks(seqs, cols, s["thought_only"])
    sums = (tok * dmask).sum(-1)
    counts = dmask.sum(-1)
    if s["loss_type"] == "ipo":  # TRL averages the log-probs over the scored tokens for IPO
        sums = sums / counts
        ref = ref / counts.view(-1, 2)
    pc, pr = sums[0::2], sums[1::2]
    rc, rr = ref[:, 0], ref[:, 1]
    z = (pc - pr) - (rc - rr)
    beta = s["beta"]
    if s["loss_type"] == "ipo":
        losses = (z - 1 / (2 * beta)) ** 2
    else:
        e = s["label_smoothing"]
        losses = -F.logsigmoid(beta * z) * (1 - e) - F.logsigmoid(-beta * z) * e
    loss = losses.mean()
    if s["nll_weight"] > 0:  # TRL's rpo_alpha: token-mean cross-entropy over the chosen completions
        loss = loss + s["nll_weight"] * (-(tok * nmask).sum() / nmask.sum())
    rew_c = beta * (pc - rc).detach()
    rew_r = beta * (pr - rr).detach()
    metrics = {
        "rewards/chosen": rew_c.mean().item(),
        "rewards/rejected": rew_r.mean().item(),
        "rewards/margins": (rew_c - rew_r).mean().item(),
        "rewards/accuracies": (rew_c > rew_r).double().mean().item(),
        "logps/chosen": pc.detach().mean().item(),
        "logps/rejected": pr.detach().mean().item(),
    }
    return loss, metrics


def main():
    torch.manual_seed(14)
    seqs, cols = layout()
    logits32 = (torch.randn(len(seqs), cols, VOCAB) * 2.0).float()
    ref = (torch.randn(len(PAIRS), 2) * 3 - 8).float().double()
    cases = []
    for s in SETTINGS:
        logits = logits32.double().requires_grad_(True)
        loss, metrics = dpo(logits, seqs, cols, ref.clone(), s)
        loss.backward()
        cases.append({**s, "loss": loss.item(), "metrics": metrics, "grad": logits.grad.reshape(-1).tolist()})
    out = {
        "made_by": "scripts/reference/dpo_reference.py",
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "date": datetime.date.today().isoformat(),
        "vocab": VOCAB,
        "rows": len(seqs),
        "cols": cols,
        "pairs": [{"prompt": p, "chosen": c, "rejected": r, "chosen_thought": ct, "rejected_thought": rt} for p, c, r, ct, rt in PAIRS],
        "ref_logps": ref.tolist(),
        "logits": logits32.reshape(-1).tolist(),
        "cases": cases,
    }
    with open(OUT, "w") as f:
        json.dump(out, f)
        f.write("\n")
    print(f"wrote {OUT}: {len(cases)} settings, {len(seqs)} rows x {cols} positions x {VOCAB} ids")


if __name__ == "__main__":
    main()
