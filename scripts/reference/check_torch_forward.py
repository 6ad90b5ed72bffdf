"""Checks the plain-PyTorch forward (torch_forward.py) against the committed HF/PEFT references, so the long
references it writes rest on a forward that agrees with HF where HF was run: the logits of
fixtures/tiny-qwen2 and fixtures/tiny-llama (reference.json), and tiny-qwen2's LoRA loss and all LoRA
gradients (lora/reference_grads.safetensors). Exits non-zero if any differs by more than its limit.

    /usr/bin/python3 scripts/reference/check_torch_forward.py
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_forward import forward, load_lora, load_model, read_safetensors  # noqa: E402


def main():
    failures = []

    def report(what, value, limit):
        print(f"{what}: {value:.2e} (limit {limit:.0e})")
        if not value <= limit:
            failures.append(what)

    for d in ["fixtures/tiny-qwen2", "fixtures/tiny-llama"]:
        ref = json.load(open(f"{d}/reference.json"))
        with torch.no_grad():
            diff = (forward(d, ref["input_ids"]) - torch.tensor(ref["logits"], dtype=torch.float64)).abs().max().item()
        # HF ran in float32: its logits carry f32 rounding (~1e-6 of |logits| ≤ 5.2), ours are float64.
        report(f"{d}: max |logit - HF|", diff, 1e-4)

    d = "fixtures/tiny-qwen2"
    ref = json.load(open(f"{d}/reference.json"))
    model, lora = load_model(d), load_lora(f"{d}/lora")
    for a, b in lora.ab.values():
        a.requires_grad_(True)
        b.requires_grad_(True)
    logits = forward(model, ref["input_ids"], lora=lora)
    labels = torch.tensor(ref["lora"]["labels"])
    # HF's causal-LM loss: position t predicts label t + 1; -100 labels are ignored.
    loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=-100)
    loss.backward()
    report(f"{d}: |LoRA loss - PEFT|", abs(loss.item() - ref["lora"]["loss"]), 1e-5)
    worst = 0.0
    grads = read_safetensors(f"{d}/lora/reference_grads.safetensors")
    for name, want in grads.items():  # e.g. model.layers.0.mlp.down_proj.lora_A.default.weight
        module, which = name.split(".lora_")
        a, b = lora.ab[module]
        got = a.grad if which.startswith("A") else b.grad
        worst = max(worst, ((got - want.double()).abs().max() / want.double().abs().max()).item())
    report(f"{d}: worst relative LoRA gradient difference from PEFT over {len(grads)} tensors", worst, 1e-4)
    if failures:
        sys.exit(f"FAILED: {', '.join(failures)}")


if __name__ == "__main__":
    main()
