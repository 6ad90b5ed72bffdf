"""A plain-PyTorch forward pass of the Qwen2/Llama decoder, written from the architecture (not from
still-ts and not through HF transformers), for independent reference values on machines that have
PyTorch but not transformers (Debian's python3-torch on the CPU machines).

    from torch_forward import forward
    logits = forward("fixtures/tiny-qwen2", [[1, 2, 3]])                    # float64 by default
    logits = forward(model, ids, lora="fixtures/tiny-qwen2/lora", position_ids=[[100, 101, 102]])

`model` is a directory with config.json + model.safetensors, or what load_model returned; `lora` a PEFT
adapter directory or what load_lora returned. The computation is differentiable: pass a LoRA whose
tensors require grad to get reference gradients. Rows of different lengths can be right-padded with
any token: attention is causal, so padding never changes the logits of the positions before it.

What it implements (HF's eager Qwen2/Llama, config.json in the v4 or v5 layout): token embedding;
per layer RMSNorm → q/k/v projections (+ bias when the config says so; Qwen2 always has them) → RoPE
(rotate-half, θ from rope_theta or rope_parameters, angles rounded to float32 as HF does) → causal softmax attention with grouped KV heads →
o_proj → residual; RMSNorm → SwiGLU MLP → residual; a final RMSNorm and the LM head (tied to the
embedding when tie_word_embeddings). Only the "default" RoPE type; anything else is refused.
"""
import json
import math
import os
import struct

import torch

_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64}


def read_safetensors(path):
    """{name: tensor} from a .safetensors file (the format is an 8-byte header length, a JSON header, the data)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] not in _DTYPES:
            raise ValueError(f"{path}: tensor '{name}' has dtype {info['dtype']}; expected one of {sorted(_DTYPES)}")
        start, end = info["data_offsets"]
        data = bytearray(raw[base + start : base + end])  # a writable copy: torch.frombuffer wants one
        t = torch.frombuffer(data, dtype=_DTYPES[info["dtype"]]) if data else torch.empty(0, dtype=_DTYPES[info["dtype"]])
        out[name] = t.reshape(info["shape"])
    return out


class Model:
    """The config fields the forward needs, and the weights (by their HF names) in one float dtype."""

    def __init__(self, model_dir, dtype=torch.float64):
        with open(os.path.join(model_dir, "config.json")) as f:
            c = json.load(f)
        self.model_type = c["model_type"]
        if self.model_type not in ("qwen2", "llama"):
            raise ValueError(f"{model_dir}/config.json: model_type '{self.model_type}'; expected qwen2 or llama")
        rope = c.get("rope_parameters") or {}
        if rope.get("rope_type", "default") != "default" or c.get("rope_scaling"):
            raise ValueError(f"{model_dir}/config.json: only the default RoPE is implemented (rope_scaling / rope_parameters)")
        self.theta = float(rope.get("rope_theta", c.get("rope_theta", 10000.0)))
        self.layers = c["num_hidden_layers"]
        self.heads = c["num_attention_heads"]
        self.kv_heads = c.get("num_key_value_heads", self.heads)
        self.head_dim = c.get("head_dim") or c["hidden_size"] // self.heads
        self.eps = c["rms_norm_eps"]
        self.tied = c.get("tie_word_embeddings", False)
        self.qkv_bias = self.model_type == "qwen2" or c.get("attention_bias", False)
        self.o_bias = self.model_type == "llama" and c.get("attention_bias", False)
        self.mlp_bias = c.get("mlp_bias", False)
        self.dtype = dtype
        self.w = {k: v.to(dtype) for k, v in read_safetensors(os.path.join(model_dir, "model.safetensors")).items()}
        if not self.tied and "lm_head.weight" not in self.w:
            raise ValueError(f"{model_dir}/model.safetensors: no 'lm_head.weight' and tie_word_embeddings is false")


class Lora:
    """A PEFT LoRA adapter: {module name: (A [r, in], B [out, r])} and the scaling α/r (α/√r with rsLoRA)."""

    def __init__(self, adapter_dir, dtype=torch.float64):
        with open(os.path.join(adapter_dir, "adapter_config.json")) as f:
            c = json.load(f)
        if c.get("rank_pattern") or c.get("alpha_pattern") or c.get("use_dora"):
            raise ValueError(f"{adapter_dir}/adapter_config.json: rank_pattern, alpha_pattern and DoRA are not implemented")
        r = c["r"]
        self.scaling = c["lora_alpha"] / (math.sqrt(r) if c.get("use_rslora") else r)
        tensors = read_safetensors(os.path.join(adapter_dir, "adapter_model.safetensors"))
        self.ab = {}
        for name, t in tensors.items():
            if not name.endswith(".lora_A.weight"):
                continue
            module = name[: -len(".lora_A.weight")].removeprefix("base_model.model.")  # e.g. model.layers.0.self_attn.q_proj
            self.ab[module] = (t.to(dtype), tensors[f"{name[: -len('.lora_A.weight')]}.lora_B.weight"].to(dtype))


def load_model(model_dir, dtype=torch.float64):
    return Model(model_dir, dtype)


def load_lora(adapter_dir, dtype=torch.float64):
    return Lora(adapter_dir, dtype)


def rms_norm(x, weight, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def rope(x, positions, theta):
    """x [B, T, H, D] rotated by angle position · θ^(−2i/D) in the rotate-half layout (pairs i, i + D/2).

    The angles are rounded to float32 the way HF computes them (float32 inverse frequencies times float32
    positions), and only then taken to cos/sin in x's dtype: checkpoints were trained with those angles,
    and at position 4000 the rounding moves an angle by up to 2.4e-4 rad, which shows in the logits.
    """
    d = x.shape[-1]
    inv_freq = 1.0 / theta ** (torch.arange(0, d, 2, dtype=torch.int64).to(torch.float32) / d)
    angles = (positions.to(torch.float32)[..., None] * inv_freq).to(x.dtype)  # [B, T, D/2]
    cos = torch.cat([angles.cos(), angles.cos()], -1)[:, :, None, :]
    sin = torch.cat([angles.sin(), angles.sin()], -1)[:, :, None, :]
    half = d // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], -1)
    return x * cos + rotated * sin


def forward(model, input_ids, lora=None, position_ids=None, dtype=torch.float64):
    """Logits [B, T, vocab] for input_ids [B, T] (nested lists or a tensor); position_ids default to 0..T-1."""
    m = model if isinstance(model, Model) else load_model(model, dtype)
    adapter = lora if lora is None or isinstance(lora, Lora) else load_lora(lora, m.dtype)
    ids = torch.as_tensor(input_ids, dtype=torch.long)
    b, t = ids.shape
    pos = torch.arange(t).expand(b, t) if position_ids is None else torch.as_tensor(position_ids, dtype=torch.long)
    w = m.w

    def linear(x, name, bias):
        y = x @ w[f"{name}.weight"].T
        if bias:
            y = y + w[f"{name}.bias"]
        if adapter is not None and name in adapter.ab:
            a, bb = adapter.ab[name]
            y = y + (x @ a.T) @ bb.T * adapter.scaling
        return y

    causal = torch.ones(t, t, dtype=torch.bool).tril()
    group = m.heads // m.kv_heads
    x = w["model.embed_tokens.weight"][ids]
    for i in range(m.layers):
        p = f"model.layers.{i}"
        h = rms_norm(x, w[f"{p}.input_layernorm.weight"], m.eps)
        q = linear(h, f"{p}.self_attn.q_proj", m.qkv_bias).view(b, t, m.heads, m.head_dim)
        k = linear(h, f"{p}.self_attn.k_proj", m.qkv_bias).view(b, t, m.kv_heads, m.head_dim)
        v = linear(h, f"{p}.self_attn.v_proj", m.qkv_bias).view(b, t, m.kv_heads, m.head_dim)
        q, k = rope(q, pos, m.theta), rope(k, pos, m.theta)
        k = k.repeat_interleave(group, dim=2)  # query head j reads kv head j // group
        v = v.repeat_interleave(group, dim=2)
        scores = torch.einsum("bthd,bshd->bhts", q, k) / math.sqrt(m.head_dim)
        probs = scores.masked_fill(~causal, float("-inf")).softmax(-1)
        attn = torch.einsum("bhts,bshd->bthd", probs, v).reshape(b, t, m.heads * m.head_dim)
        x = x + linear(attn, f"{p}.self_attn.o_proj", m.o_bias)
        h = rms_norm(x, w[f"{p}.post_attention_layernorm.weight"], m.eps)
        gate = linear(h, f"{p}.mlp.gate_proj", m.mlp_bias)
        up = linear(h, f"{p}.mlp.up_proj", m.mlp_bias)
        x = x + linear(torch.nn.functional.silu(gate) * up, f"{p}.mlp.down_proj", m.mlp_bias)
    x = rms_norm(x, w["model.norm.weight"], m.eps)
    head = w["model.embed_tokens.weight"] if m.tied else w["lm_head.weight"]
    return x @ head.T
