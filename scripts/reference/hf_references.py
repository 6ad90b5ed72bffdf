"""Regenerates the HF references of fixtures/tiny-qwen2 and fixtures/tiny-llama with HF transformers (and PEFT
for tiny-qwen2's LoRA), on a machine that has them (the GPU machine does; the CPU machines do not).

    python3 scripts/reference/hf_references.py            # from the repository root

For each fixture it writes, without touching the committed files:
- long_reference_hf.json: the cases of long_reference.json (200 tokens; positions up to 4047), recomputed by
  HF eager in float64, in the same format. test/model_long_reference.test.ts checks it too once committed.
- reference.regenerated.json: reference.json's fields recomputed (eager float32 logits, 24 greedy tokens,
  and for tiny-qwen2 the PEFT LoRA loss, gradients and 5 AdamW losses), with the largest difference from the
  committed reference.json printed, so a person can decide whether to replace it.
Versions of torch, transformers and PEFT, the command and the date are recorded in each file.
NOT RUN YET: written on a machine without transformers; run it where transformers is installed.
"""
import datetime
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import long_cases  # noqa: E402
from torch_forward import read_safetensors  # noqa: E402

FIXTURES = ["fixtures/tiny-qwen2", "fixtures/tiny-llama"]


def load_hf(d, dtype):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(d, dtype=dtype, attn_implementation="eager").eval()


def versions():
    import transformers

    v = {"torch": torch.__version__, "transformers": transformers.__version__}
    try:
        import peft

        v["peft"] = peft.__version__
    except ImportError:
        pass
    return v


def long_references(d, meta):
    committed = json.load(open(os.path.join(d, "long_reference.json")))
    model = load_hf(d, torch.float64)
    with torch.no_grad():
        logits_fn = lambda ids, pos: model(input_ids=ids, position_ids=pos).logits
        cases = [long_cases.evaluate({k: c[k] for k in ("name", "input_ids", "position_ids")}, logits_fn) for c in committed["cases"]]
    out = os.path.join(d, "long_reference_hf.json")
    long_cases.write(out, {**meta, "source": "HF transformers, eager attention, float64"}, cases)
    for mine, theirs in zip(cases, committed["cases"]):
        diff = max(abs(a - b) for ra, rb in zip(mine["logits"], theirs["logits"]) for pa, pb in zip(ra, rb) for a, b in zip(pa, pb))
        print(f"{out} {mine['name']}: max |HF - torch_forward| logit {diff:.2e}")


def short_reference(d, meta):
    ref = json.load(open(os.path.join(d, "reference.json")))
    model = load_hf(d, torch.float32)
    out = {**meta, "input_ids": ref["input_ids"], "greedy_prompt": ref["greedy_prompt"]}
    with torch.no_grad():
        out["logits"] = model(torch.tensor(ref["input_ids"])).logits.tolist()
        n = len(ref["greedy_output"][0]) - len(ref["greedy_prompt"][0])
        gen = model.generate(torch.tensor(ref["greedy_prompt"]), max_new_tokens=n, min_new_tokens=n, do_sample=False, eos_token_id=None, pad_token_id=0)
        out["greedy_output"] = gen.tolist()
    diff = (torch.tensor(out["logits"]) - torch.tensor(ref["logits"])).abs().max().item()
    print(f"{d}: max |regenerated - committed| logit {diff:.2e}; greedy tokens equal: {out['greedy_output'] == ref['greedy_output']}")
    if "lora" in ref:
        out["lora"] = lora_reference(d, model, ref)
    path = os.path.join(d, "reference.regenerated.json")
    with open(path, "w") as f:
        json.dump(out, f)
    print("wrote", path)


def lora_reference(d, model, ref):
    """PEFT's masked-label loss and LoRA gradients from lora/, then 5 AdamW steps (lr from the committed file, wd 0)."""
    from peft import PeftModel

    lora_ref = ref["lora"]
    peft_model = PeftModel.from_pretrained(model, os.path.join(d, "lora"), is_trainable=True)
    ids, labels = torch.tensor(ref["input_ids"]), torch.tensor(lora_ref["labels"])
    params = {n: p for n, p in peft_model.named_parameters() if p.requires_grad}
    loss = peft_model(input_ids=ids, labels=labels).loss
    loss.backward()
    committed = read_safetensors(os.path.join(d, "lora", "reference_grads.safetensors"))
    worst = 0.0
    for name, want in committed.items():
        got = params[f"base_model.model.{name}"].grad
        worst = max(worst, ((got - want).abs().max() / want.abs().max()).item())
    print(f"{d}: LoRA loss {loss.item():.7f} (committed {lora_ref['loss']:.7f}); worst relative gradient difference {worst:.2e}")
    peft_model.zero_grad()
    opt = torch.optim.AdamW(list(params.values()), lr=lora_ref["adamw_lr"], weight_decay=0.0)
    losses = []
    for _ in range(len(lora_ref["adamw_losses"])):
        opt.zero_grad()
        step_loss = peft_model(input_ids=ids, labels=labels).loss
        losses.append(step_loss.item())
        step_loss.backward()
        opt.step()
    print(f"{d}: AdamW losses {['%.6f' % x for x in losses]} (committed {['%.6f' % x for x in lora_ref['adamw_losses']]})")
    return {**lora_ref, "loss": loss.item(), "adamw_losses": losses}


def main():
    meta = {**versions(), "command": "python3 scripts/reference/hf_references.py", "date": datetime.date.today().isoformat()}
    for d in FIXTURES:
        long_references(d, meta)
        short_reference(d, meta)


if __name__ == "__main__":
    main()
