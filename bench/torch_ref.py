#!/usr/bin/env python3
"""bench/torch_ref.py: the PyTorch side of bench/gpu.ts, run by it in the same call on the GPU machine.

    python3 bench/torch_ref.py [--only gemm,attention,sft,generate] [--new-tokens 256]

Same shapes as bench/gpu.ts (Qwen2.5-0.5B with random weights: hidden 896, 24 layers, 14/2 heads,
intermediate 4864, vocab 151936, tied). Progress goes to stderr. Each finished benchmark prints one
`RESULT {json}` line on stdout at once, so a run cut short by a timeout still reports what it measured.
Each benchmark runs in its own try/except, so one failure leaves the others' numbers.
"""
import argparse
import json
import sys
import time
import traceback


def log(*args):
    print("torch_ref:", *args, file=sys.stderr, flush=True)


def emit(key, value):
    """One finished measurement, on stdout now (bench/gpu.ts reads these lines as they come)."""
    print("RESULT " + json.dumps({key: value}), flush=True)


def cuda_time_ms(torch, fn, iters, warmup=3):
    """Mean device milliseconds per call of fn, timed with CUDA events."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(iters):
        fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / iters


def bench_gemm(torch, out):
    for n in (1024, 4096, 8192):
        a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
        b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
        ms = cuda_time_ms(torch, lambda: a @ b, iters=20 if n < 8192 else 10)
        out[f"gemm_bf16_{n}"] = {"ms": ms, "tflops": 2 * n**3 / (ms / 1e3) / 1e12}
        emit(f"gemm_bf16_{n}", out[f"gemm_bf16_{n}"])
        log(f"GEMM bf16 {n}^3: {ms:.3f} ms, {out[f'gemm_bf16_{n}']['tflops']:.0f} TFLOP/s")


def bench_attention(torch, out):
    import torch.nn.functional as F

    for batch, t in ((8, 1024), (2, 4096)):
        hq, hkv, d = 14, 2, 64
        q = torch.randn(batch, hq, t, d, device="cuda", dtype=torch.bfloat16, requires_grad=True)
        k = torch.randn(batch, hkv, t, d, device="cuda", dtype=torch.bfloat16, requires_grad=True)
        v = torch.randn(batch, hkv, t, d, device="cuda", dtype=torch.bfloat16, requires_grad=True)
        go = torch.randn(batch, hq, t, d, device="cuda", dtype=torch.bfloat16)

        def fwd():
            return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)

        def fwd_bwd():
            o = fwd()
            o.backward(go)

        with torch.no_grad():
            ms_f = cuda_time_ms(torch, fwd, iters=20)
        ms_fb = cuda_time_ms(torch, fwd_bwd, iters=10)
        key = f"attention_T{t}"
        out[key] = {"batch": batch, "fwd_ms": ms_f, "fwd_bwd_ms": ms_fb}
        emit(key, out[key])
        log(f"SDPA causal GQA B{batch} T{t} H{hq}/{hkv} D{d}: fwd {ms_f:.3f} ms, fwd+bwd {ms_fb:.3f} ms")


def qwen05(torch):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(
        vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
        num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768,
        rope_theta=1e6, rms_norm_eps=1e-6, tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = Qwen2ForCausalLM(config).to(torch.bfloat16)
    return model


def bench_sft(torch, out, rows=8, cols=1024, steps=3):
    from peft import LoraConfig, get_peft_model

    model = qwen05(torch)
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules=targets))
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    ids = torch.randint(0, 151936, (rows, cols), device="cuda")

    def step():
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    ms = (time.perf_counter() - t0) * 1e3 / steps
    out["lora_sft"] = {
        "rows": rows, "cols": cols, "ms_per_step": ms, "tokens_per_sec": rows * cols / (ms / 1e3),
        "peak_bytes": torch.cuda.max_memory_allocated(),
    }
    emit("lora_sft", out["lora_sft"])
    log(f"PEFT LoRA r16 SFT B{rows}xT{cols}: {ms:.1f} ms/step, {out['lora_sft']['tokens_per_sec']:.0f} tok/s, "
        f"peak {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")
    del model, opt
    torch.cuda.empty_cache()


def bench_generate(torch, out, new_tokens):
    model = qwen05(torch).eval()
    for batch in (1, 64):
        prompt = torch.randint(0, 151936, (batch, 32), device="cuda")
        kwargs = dict(do_sample=True, temperature=0.7, top_p=0.95, max_new_tokens=new_tokens,
                      min_new_tokens=new_tokens, pad_token_id=0)
        with torch.no_grad():
            model.generate(prompt, **{**kwargs, "max_new_tokens": 4, "min_new_tokens": 4})  # warm-up
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            res = model.generate(prompt, **kwargs)
            torch.cuda.synchronize()
        s = time.perf_counter() - t0
        made = (res.shape[1] - prompt.shape[1]) * batch
        out[f"generate_b{batch}"] = {"new_tokens": new_tokens, "seconds": s, "tokens_per_sec": made / s}
        emit(f"generate_b{batch}", out[f"generate_b{batch}"])
        log(f"HF generate batch {batch}, {new_tokens} new tokens: {made / s:.0f} tok/s")
    del model
    torch.cuda.empty_cache()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="gemm,attention,sft,generate")
    parser.add_argument("--new-tokens", type=int, default=256)
    args = parser.parse_args()
    out = {"errors": {}}
    try:
        import torch

        out["device"] = torch.cuda.get_device_name()
        out["torch"] = torch.__version__
        emit("device", out["device"])
        emit("torch", out["torch"])
        log(f"torch {torch.__version__} on {out['device']}")
    except Exception as e:  # noqa: BLE001 - report, never crash the caller's run
        out["errors"]["import"] = repr(e)
        emit("errors", out["errors"])
        return
    jobs = {
        "gemm": lambda: bench_gemm(torch, out),
        "attention": lambda: bench_attention(torch, out),
        "sft": lambda: bench_sft(torch, out),
        "generate": lambda: bench_generate(torch, out, args.new_tokens),
    }
    for name in args.only.split(","):
        try:
            jobs[name]()
        except Exception as e:  # noqa: BLE001
            out["errors"][name] = repr(e)
            emit("errors", out["errors"])
            log(f"{name} failed:\n{traceback.format_exc()}")


if __name__ == "__main__":
    main()
