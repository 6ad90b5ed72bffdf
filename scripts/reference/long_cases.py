"""The long-sequence reference cases, and the file both reference scripts write (make_long_references.py
with the plain-PyTorch forward, hf_references.py with HF transformers), so their outputs compare 1:1.

Two cases per fixture, batch 2 each:
- "long": 200 tokens from position 0: attention over four 64-row query blocks (three full, one partial).
- "far": 96 tokens whose positions jump halfway: 0-47 then 2950-2997 in row 0, 1000-1047 then 4000-4047
  in row 1. RoPE makes attention depend on position differences only, so a contiguous run at 4000 would
  test nothing but rounding; the jump puts keys about 3000 positions behind the queries (HF accepts any
  position_ids, as packed sequences use).
Full logit rows are kept at the block edges (63/64/65, 127/128, 191/192), every 16th position and the
last; the log-probability of each next input token is kept at every position, so every row is checked.
"""
import json

import torch

BLOCK_EDGES = [0, 1, 31, 62, 63, 64, 65, 126, 127, 128, 129, 190, 191, 192, 193]


def checked_positions(t):
    return sorted({p for p in BLOCK_EDGES + list(range(15, t, 16)) + [t - 1] if p < t})


def make_cases(vocab, seed=20261203):
    """[{name, input_ids, position_ids}] with token ids from a seeded generator."""
    g = torch.Generator().manual_seed(seed)
    ids = lambda b, t: torch.randint(0, vocab, (b, t), generator=g).tolist()
    run = lambda start, n: list(range(start, start + n))
    return [
        {"name": "long", "input_ids": ids(2, 200), "position_ids": [run(0, 200), run(0, 200)]},
        {"name": "far", "input_ids": ids(2, 96), "position_ids": [run(0, 48) + run(2950, 48), run(1000, 48) + run(4000, 48)]},
    ]


def evaluate(case, logits_fn):
    """Fill a case's reference values from logits_fn(input_ids, position_ids) -> [B, T, V] tensor."""
    ids = torch.tensor(case["input_ids"])
    b, t = ids.shape
    pos = torch.tensor(case["position_ids"])
    logits = logits_fn(ids, pos).to(torch.float64)
    rows = checked_positions(t)
    logprobs = logits.log_softmax(-1)[:, :-1].gather(-1, ids[:, 1:, None])[..., 0]
    return {
        **case,
        "checked_positions": rows,
        "logits": [[[float(f"{v:.7g}") for v in logits[i, p].tolist()] for p in rows] for i in range(b)],
        "next_token_logprobs": [[float(f"{v:.7g}") for v in row] for row in logprobs.tolist()],
    }


def write(path, meta, cases):
    with open(path, "w") as f:
        json.dump({**meta, "cases": cases}, f, separators=(",", ":"))
        f.write("\n")
