"""Writes fixtures/<name>/long_reference.json for tiny-qwen2 and tiny-llama: logits of the committed fixture
weights on sequences past one 64-row attention block and at positions in the thousands (see long_cases.py),
computed in float64 by the plain-PyTorch forward in torch_forward.py. test/model_long_reference.test.ts
compares still-ts against them.

Run from the repository root with a Python that has PyTorch (Debian's python3-torch is enough):
    /usr/bin/python3 scripts/reference/make_long_references.py
"""
import datetime
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import long_cases  # noqa: E402
from torch_forward import forward, load_model  # noqa: E402

FIXTURES = ["fixtures/tiny-qwen2", "fixtures/tiny-llama"]


def main():
    torch.set_num_threads(1)
    for d in FIXTURES:
        model = load_model(d, torch.float64)
        vocab = model.w["model.embed_tokens.weight"].shape[0]
        with torch.no_grad():
            cases = [long_cases.evaluate(c, lambda ids, pos: forward(model, ids, position_ids=pos)) for c in long_cases.make_cases(vocab)]
        meta = {
            "source": "scripts/reference/torch_forward.py (plain PyTorch, float64), on this directory's model.safetensors",
            "command": "/usr/bin/python3 scripts/reference/make_long_references.py",
            "torch": torch.__version__,
            "date": datetime.date.today().isoformat(),
        }
        out = os.path.join(d, "long_reference.json")
        long_cases.write(out, meta, cases)
        print(f"wrote {out}: " + ", ".join(f"{c['name']} {len(c['input_ids'])}x{len(c['input_ids'][0])}" for c in cases))


if __name__ == "__main__":
    main()
