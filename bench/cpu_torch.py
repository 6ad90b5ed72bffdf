#!/usr/bin/env python3
"""bench/cpu_torch.py: the PyTorch peer of bench/cpu_vs_torch.ts on the CPU, the same toy Llama written in plain torch.

    /usr/bin/python3 bench/cpu_torch.py --hidden 64 --layers 4 --ff 192 --heads 2 --vocab 103 \
        --mode train --t 256 --batch 8 --steps 4 --threads 2
    ... --mode decode --batch 64 --prompt 24 --new 128

Debian's python3-torch (1.13, OpenBLAS: `apt-get install python3-torch libopenblas0-pthread`). Prints one JSON
line: tokens/s over the timed steps (after one untimed warm-up), so the TypeScript side can alternate runs.
The model matches src/nn/model.ts: RMSNorm, RoPE (rotate-half), causal attention, SwiGLU, tied embeddings.
"""
import argparse, json, math, time
import torch
import torch.nn.functional as F

p = argparse.ArgumentParser()
for name, default in [("hidden", 64), ("layers", 4), ("ff", 192), ("heads", 2), ("vocab", 103), ("t", 256), ("batch", 8),
                      ("steps", 4), ("threads", 2), ("prompt", 24), ("new", 128), ("seed", 1)]:
    p.add_argument(f"--{name}", type=int, default=default)
p.add_argument("--mode", choices=["train", "decode"], default="train")
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(a.seed)
D, H, HD = a.hidden, a.heads, a.hidden // a.heads


def rms(x, w, eps=1e-6):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rope_tables(n):
    inv = 1.0 / (10000 ** (torch.arange(0, HD, 2, dtype=torch.float32) / HD))
    f = torch.outer(torch.arange(n, dtype=torch.float32), inv)
    e = torch.cat([f, f], -1)
    return e.cos(), e.sin()


def rope(x, cos, sin):  # x [B, H, T, HD]
    x1, x2 = x[..., : HD // 2], x[..., HD // 2 :]
    return x * cos + torch.cat([-x2, x1], -1) * sin


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        init = lambda *s: torch.nn.Parameter(torch.randn(*s) * 0.05)
        self.embed = init(a.vocab, D)
        self.layers = torch.nn.ModuleList()
        for _ in range(a.layers):
            m = torch.nn.Module()
            m.n1, m.n2 = torch.nn.Parameter(torch.ones(D)), torch.nn.Parameter(torch.ones(D))
            m.q, m.k, m.v, m.o = init(D, D), init(D, D), init(D, D), init(D, D)
            m.gate, m.up, m.down = init(a.ff, D), init(a.ff, D), init(D, a.ff)
            self.layers.append(m)
        self.norm = torch.nn.Parameter(torch.ones(D))

    def forward(self, ids, cache=None, start=0):
        b, t = ids.shape
        x = F.embedding(ids, self.embed)
        cos, sin = rope_tables(start + t)
        cos, sin = cos[start:], sin[start:]
        causal = torch.full((t, start + t), float("-inf")).triu(start + 1)
        for i, m in enumerate(self.layers):
            h = rms(x, m.n1)
            q, k, v = (F.linear(h, w).view(b, t, H, HD).transpose(1, 2) for w in (m.q, m.k, m.v))
            q, k = rope(q, cos, sin), rope(k, cos, sin)
            if cache is not None:
                if i in cache:
                    k, v = torch.cat([cache[i][0], k], 2), torch.cat([cache[i][1], v], 2)
                cache[i] = (k, v)
            att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(HD) + causal, -1) @ v
            x = x + F.linear(att.transpose(1, 2).reshape(b, t, D), m.o)
            h = rms(x, m.n2)
            x = x + F.linear(F.silu(F.linear(h, m.gate)) * F.linear(h, m.up), m.down)
        return F.linear(rms(x, self.norm), self.embed)


model = Model()
if a.mode == "train":
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
    times = []
    for step in range(a.steps + 1):
        ids = torch.randint(0, a.vocab, (a.batch, a.t))
        labels = ids.clone()
        labels[:, : a.t // 4] = -100  # a prompt of a quarter of each row carries no loss, as on the TS side
        t0 = time.perf_counter()
        logits = model(ids[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, a.vocab), labels[:, 1:].reshape(-1), ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        times.append(time.perf_counter() - t0)
    timed = times[1:]
    print(json.dumps({"peer": "torch", "mode": "train", "tokens_per_s": a.batch * a.t * len(timed) / sum(timed),
                      "ms_per_step": 1000 * sum(timed) / len(timed), "threads": a.threads, "torch": torch.__version__}))
else:
    model.eval()
    times = []
    with torch.no_grad():
        for rep in range(a.steps + 1):
            ids = torch.randint(0, a.vocab, (a.batch, a.prompt))
            t0 = time.perf_counter()
            cache = {}
            nxt = model(ids, cache)[:, -1].argmax(-1, keepdim=True)
            for j in range(a.new - 1):
                nxt = model(nxt, cache, a.prompt + j)[:, -1].argmax(-1, keepdim=True)
            times.append(time.perf_counter() - t0)
    timed = times[1:]
    print(json.dumps({"peer": "torch", "mode": "decode", "tokens_per_s": a.batch * a.new * len(timed) / sum(timed),
                      "ms_per_step": 1000 * sum(timed) / len(timed) / a.new, "threads": a.threads, "torch": torch.__version__}))
