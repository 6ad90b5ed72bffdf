# Runs HF transformers (eager, fp32) on a fixture checkpoint written by our own writer and dumps
# the reference outputs our tests compare against. Needs PyTorch + transformers (the GPU machine has them).
# Usage: python3 bench/hf_reference.py fixtures/tiny-llama OUT.json
import json
import sys

import torch
from transformers import AutoModelForCausalLM

d, out = sys.argv[1], sys.argv[2]
inputs = json.load(open(f"{d}/inputs.json"))
model = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="eager").eval()
with torch.no_grad():
    ids = torch.tensor(inputs["input_ids"])
    logits = model(ids).logits
    prompt = torch.tensor(inputs["greedy_prompt"])
    gen = model.generate(prompt, max_new_tokens=inputs["max_new_tokens"], do_sample=False,
                         eos_token_id=None, pad_token_id=0, min_new_tokens=inputs["max_new_tokens"])
json.dump({
    "input_ids": inputs["input_ids"],
    "logits": logits.tolist(),
    "greedy_prompt": inputs["greedy_prompt"],
    "greedy_output": gen.tolist(),
    "transformers": __import__("transformers").__version__,
    "torch": torch.__version__,
}, open(out, "w"))
print("wrote", out, "logits", tuple(logits.shape), "|logits| max", float(logits.abs().max()))
