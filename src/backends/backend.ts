// The one interface every backend implements. The CPU backend (cpu/) is the reference; GPU backends are
// tested against it op by op. All ops are synchronous from JS's point of view and return new tensors.
// Layouts are row-major and contiguous. Activations in attention are [batch, time, heads, headDim].
import type { DType, HostArray } from '../tensor/dtype.ts';
import type { Shape } from '../tensor/shape.ts';
import type { Storage, Tensor } from '../tensor/tensor.ts';

export type BackendName = 'cpu' | 'cuda';

export type BinaryOp = 'add' | 'sub' | 'mul' | 'div';
export type UnaryOp = 'neg' | 'exp' | 'log' | 'sqrt' | 'silu' | 'square' | 'abs';

export interface AttentionOptions {
  /** Softmax scale, usually 1/sqrt(headDim). */
  scale: number;
  /**
   * Causal masking with queries aligned to the END of the keys: query t (of T) sits at key position
   * t + (S - T), and sees keys at positions ≤ its own. With a KV cache, S includes the cache.
   */
  causal: boolean;
  /**
   * Packed sequences: segment id per position [batch, T] (i32, T = S). Attention stays inside a segment,
   * so several examples can share one row without seeing each other. Omit for one sequence per row.
   */
  segments?: Tensor;
}

export interface AdamWHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1-based step count, for bias correction. */
  step: number;
}

/**
 * One row of Backend.sample: how to turn a row of logits into one token, with vLLM semantics, and which
 * Philox stream draws it. The exact algorithm (order of processors, tie rules, the Gumbel-max draw) is
 * written out in src/backends/sampler.ts, whose `sampleTokens` is the CPU reference.
 */
export interface SampleRow {
  /** Below 1e-5 (vLLM's epsilon) means greedy: argmax of the penalised logits, lowest id on ties. */
  temperature: number;
  /** Keep the tokens whose scaled logit is ≥ the k-th largest (ties at the k-th kept); 0 = off. */
  topK: number;
  /** Nucleus: keep the highest-ranked tokens while the mass ranked above them is < topP; 1 = off. */
  topP: number;
  /** Drop tokens whose probability is < minP × the top probability (after temperature); 0 = off. */
  minP: number;
  /** vLLM/HF repetition penalty on `penalized` ids: positive logits ÷ p, others × p; 1 = off. */
  repetitionPenalty: number;
  /** Distinct token ids seen so far (prompt and output) for the repetition penalty; empty when it is off. */
  penalized: Int32Array;
  /** Philox4x32-10 key words: the seed's low and high 32 bits. */
  key: readonly [number, number];
  /** Philox counter words 1..3 = [step, sample, request]; word 0 is the vocabulary block (token id >> 2). */
  counter: readonly [number, number, number];
}

/** What Backend.sample returns per row: the token and its log-prob under the RAW logits (log_softmax). */
export interface SampledTokens {
  tokens: Int32Array;
  logprobs: Float32Array;
}

/** What Backend.fusedLinear does around its GEMM, in this order: norm → x·wᵀ → + bias → swiglu → + residual. */
export interface FusedLinearOptions {
  /** RMSNorm each row of x first (x / rms(x) · weight, eps), rounded to x's dtype as Backend.rmsnorm's output is. */
  norm?: { weight: Tensor; eps: number } | null;
  /** [N] ([2N] with swiglu), added to x·wᵀ. */
  bias?: Tensor | null;
  /** w stacks [gate; up] as [2N, K]: the result is silu(gate)·up, [..., N]. */
  swiglu?: boolean;
  /** [..., N], added last (the residual stream). */
  residual?: Tensor | null;
}

/**
 * What a backend offers beyond the ops every backend has. Each flag promises a group of Backend's optional
 * members (CAPABILITY_MEMBERS): when it is true they are all there and behave as documented below. Callers
 * read the flags (through hasFusedInference, hasDeviceSampler, hasDecodeGraphs), never probe for methods.
 */
export interface BackendCapabilities {
  /**
   * fusedLinear, ropeKvWrite and qkvRopeKvWrite, each its composition in fused_reference.ts up to the dtype's
   * rounding: generation runs its forward in five fused ops a layer (src/nn/fused_forward.ts).
   */
  readonly fusedInference: boolean;
  /**
   * sample: tokens are drawn from logits where the backend holds them, exactly as the reference sampleTokens
   * (src/backends/sampler.ts) draws them. Without it the generator downloads the logits and draws on the host.
   */
  readonly deviceSampler: boolean;
  /**
   * captureGraph, overwrite, createSampleParams and sampleInto: a decode step (forward and sampler) is recorded
   * once and replayed with its inputs rewritten in place (src/sample/decode_graph.ts).
   */
  readonly decodeGraphs: boolean;
}

/** The optional Backend members each capability promises. */
export const CAPABILITY_MEMBERS = {
  fusedInference: ['fusedLinear', 'ropeKvWrite', 'qkvRopeKvWrite'],
  deviceSampler: ['sample'],
  decodeGraphs: ['captureGraph', 'overwrite', 'createSampleParams', 'sampleInto'],
} as const satisfies Record<keyof BackendCapabilities, readonly (keyof Backend)[]>;

type Promised<C extends keyof BackendCapabilities> = Backend & Required<Pick<Backend, (typeof CAPABILITY_MEMBERS)[C][number]>>;
export type FusedInferenceBackend = Promised<'fusedInference'>;
export type SamplerBackend = Promised<'deviceSampler'>;
export type GraphBackend = Promised<'decodeGraphs'>;

export function hasFusedInference(be: Backend): be is FusedInferenceBackend {
  return be.capabilities.fusedInference;
}

export function hasDeviceSampler(be: Backend): be is SamplerBackend {
  return be.capabilities.deviceSampler;
}

export function hasDecodeGraphs(be: Backend): be is GraphBackend {
  return be.capabilities.decodeGraphs;
}

/**
 * Where a backend's declared capabilities and its members disagree, one line each (empty when they agree): a
 * flag whose members are missing, or members present under a flag left false. For tests of each backend.
 */
export function capabilityMismatches(be: Backend): string[] {
  const out: string[] = [];
  for (const [flag, members] of Object.entries(CAPABILITY_MEMBERS) as [keyof BackendCapabilities, readonly (keyof Backend)[]][]) {
    const declared = be.capabilities[flag];
    const present = members.filter((m) => typeof be[m] === 'function');
    if (declared && present.length < members.length) {
      out.push(`${be.name}: capabilities.${flag} is true, but ${members.filter((m) => !present.includes(m)).join(', ')} missing`);
    } else if (!declared && present.length > 0) {
      out.push(`${be.name}: capabilities.${flag} is false, but it has ${present.join(', ')}`);
    }
  }
  return out;
}

/** A captured sequence of launches (Backend.captureGraph), replayed in order on the backend's stream. */
export interface CapturedGraph {
  replay(): void;
  dispose(): void;
}

/** Sampler parameters held on the device for sampleInto (Backend.createSampleParams); rewritten between replays. */
export interface SampleParamsBuffer {
  readonly rows: number;
  /** Upload the rows; rows past rows.length (up to this.rows) become greedy padding. */
  write(rows: readonly SampleRow[], vocab: number): void;
  dispose(): void;
}

export interface Backend {
  readonly name: BackendName;
  /** What it offers beyond the required ops; see BackendCapabilities. */
  readonly capabilities: BackendCapabilities;

  // ---- memory -------------------------------------------------------------------------------------
  /** Copy host data to a new tensor. Floats may be uploaded from f32/f64 arrays into any float dtype. */
  upload(data: HostArray, shape: Shape, dtype: DType): Tensor;
  /** Copy a tensor to the host: f32 for f32/bf16/f16, f64 for f64, i32 for i32. */
  download(t: Tensor): HostArray;
  zeros(shape: Shape, dtype: DType): Tensor;
  /**
   * Optional: zeros in memory the backend's kernels read in place, for long-lived buffers they read on every
   * call (the KV cache). The CPU backend keeps these in its kernels' WebAssembly memory; others omit it.
   */
  zerosResident?(shape: Shape, dtype: DType): Tensor;
  full(shape: Shape, value: number, dtype: DType): Tensor;
  release(storage: Storage): void;
  cast(t: Tensor, dtype: DType): Tensor;
  /** dst (same shape) := src, in place. */
  copyInto(dst: Tensor, src: Tensor): void;

  // ---- dense math -----------------------------------------------------------------------------------
  /**
   * Batched matmul: a [...batch, M, K] (or [..., K, M] with transA), b [...batch, K, N] (or [..., N, K] with
   * transB), or a 2-D b shared by every batch item. Output [...batch, M, N].
   */
  matmul(a: Tensor, b: Tensor, transA: boolean, transB: boolean): Tensor;
  /** Elementwise with NumPy broadcasting. */
  binary(op: BinaryOp, a: Tensor, b: Tensor): Tensor;
  unary(op: UnaryOp, a: Tensor): Tensor;
  /** a * mul + add, elementwise with scalars. */
  affine(a: Tensor, mul: number, add: number): Tensor;
  /** Sum over the given axes (kept as size-1 dims when keepDims). */
  sum(a: Tensor, axes: readonly number[], keepDims: boolean): Tensor;
  /** Materialised permutation of the axes. */
  permute(a: Tensor, perm: readonly number[]): Tensor;
  /** Contiguous slice along one axis: [start, end). */
  slice(a: Tensor, axis: number, start: number, end: number): Tensor;
  /** Concatenate along one axis. */
  concat(parts: readonly Tensor[], axis: number): Tensor;

  // ---- fused model ops (each with its backward) -------------------------------------------------------
  /** weight [V, D], ids i32 [...] → [..., D]. */
  embedding(weight: Tensor, ids: Tensor): Tensor;
  /** Scatter-add of grad [..., D] into a zero [V, D] by ids. */
  embeddingBackward(grad: Tensor, ids: Tensor, vocabSize: number): Tensor;
  /** y = x / rms(x) * w over the last dim; also returns 1/rms per row (f32) for the backward. */
  rmsnorm(x: Tensor, w: Tensor, eps: number): { y: Tensor; rstd: Tensor };
  rmsnormBackward(gy: Tensor, x: Tensor, w: Tensor, rstd: Tensor): { gx: Tensor; gw: Tensor };
  /**
   * Rotary embedding, HF "rotate half" convention, on x [B, T, H, D] with positions i32 [B, T].
   * inverse=true rotates by -θ (the backward of the forward rotation).
   */
  rope(x: Tensor, positions: Tensor, theta: number, inverse: boolean): Tensor;
  /**
   * Grouped-query attention: q [B, T, Hq, D], k/v [B, S, Hkv, D], Hq a multiple of Hkv.
   * Returns o [B, T, Hq, D] and the log-sum-exp per (b, t, h) as f32 [B, T, Hq] for the backward.
   */
  attention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions): { o: Tensor; lse: Tensor };
  attentionBackward(
    go: Tensor, q: Tensor, k: Tensor, v: Tensor, o: Tensor, lse: Tensor, opts: AttentionOptions,
  ): { gq: Tensor; gk: Tensor; gv: Tensor };
  /** silu(gate) * up. */
  swiglu(gate: Tensor, up: Tensor): Tensor;
  swigluBackward(gy: Tensor, gate: Tensor, up: Tensor): { gGate: Tensor; gUp: Tensor };
  /**
   * Softmax cross-entropy per row: logits [N, V], targets i32 [N] (ignoreIndex rows give loss 0).
   * Returns the loss per row and the log-sum-exp per row (both f32 [N]).
   */
  crossEntropy(logits: Tensor, targets: Tensor, ignoreIndex: number): { loss: Tensor; lse: Tensor };
  /** d(sum_i gLoss[i] * loss[i]) / d logits. gLoss f32 [N]. */
  crossEntropyBackward(gLoss: Tensor, logits: Tensor, targets: Tensor, lse: Tensor, ignoreIndex: number): Tensor;

  // ---- generation: slot KV cache and sampling (src/sample/) -----------------------------------------------
  // A slot cache tensor holds one layer's keys (or values) for every generation slot: [slots, maxLen, Hkv, D].
  // Slot s holds one sequence; its position p lives at [s, p]. Slots are independent, so rows of a decode
  // batch can have different lengths, and the batch can be any subset of the slots, in any order.
  /**
   * In place: cache[slots[b], starts[b] + t] := src[b, t] for b < B, t < T. src [B, T, Hkv, D] (converted to
   * the cache's dtype), slots and starts i32 [B]. Needs 0 ≤ slots[b] < cache.shape[0] and
   * 0 ≤ starts[b], starts[b] + T ≤ cache.shape[1]; rows of the cache that are not written are unchanged.
   */
  kvWrite(cache: Tensor, src: Tensor, slots: Tensor, starts: Tensor): void;
  /**
   * In place: cache[d, 0:length] := cache[src, 0:length] for every d in dsts (n samples of one prompt
   * share its prefill this way). dsts are distinct and never src; positions ≥ length are unchanged.
   */
  kvCopy(cache: Tensor, src: number, dsts: readonly number[], length: number): void;
  /**
   * Causal GQA attention of q [B, T, Hq, D] over slot caches kCache/vCache [slots, maxLen, Hkv, D]: row b
   * reads slot slots[b], whose first kvLens[b] positions are valid (T ≤ kvLens[b] ≤ maxLen), and its query t
   * sits at position kvLens[b] - T + t and sees cache positions 0 ..= that position. slots and kvLens are
   * i32 [B]. Returns o [B, T, Hq, D]. Inference only (no lse, no backward). T = 1 is the decode step.
   */
  slotAttention(q: Tensor, kCache: Tensor, vCache: Tensor, slots: Tensor, kvLens: Tensor, scale: number): Tensor;
  /**
   * The fused sampler (capabilities.deviceSampler): one token per row of logits [N, V] (N = rows.length), drawn
   * exactly as the CPU reference `sampleTokens` in src/backends/sampler.ts draws it. Backends without it get
   * the host path.
   */
  sample?(logits: Tensor, rows: readonly SampleRow[]): SampledTokens;

  // ---- decode graphs (capabilities.decodeGraphs): src/sample/decode_graph.ts --------------------------------
  /**
   * Record the launches `fn` makes into a graph, to be replayed without the per-launch host cost. Nothing runs
   * during capture, so `fn` must not read results back nor upload; run it once eagerly first. Tensors `fn`
   * makes belong to the graph until graph.dispose(): a replay rewrites them in place.
   */
  captureGraph?<R>(fn: () => R): { graph: CapturedGraph; result: R };
  /** Copy host data into an existing tensor (same element count), e.g. a graph's input. */
  overwrite?(t: Tensor, data: HostArray): void;
  /** Device buffers for sampleInto's parameters: `rows` rows, `penalizedCapacity` penalized ids in all. */
  createSampleParams?(rows: number, penalizedCapacity: number): SampleParamsBuffer;
  /**
   * The fused sampler without a round trip, so a graph can capture it: one token per row of logits [N, V]
   * (N = params.rows) into out i32 [2N]: the tokens, then the log-probs' f32 bits (a token of -1 means every
   * token was filtered out).
   */
  sampleInto?(logits: Tensor, params: SampleParamsBuffer, out: Tensor): void;

  // ---- inference-only fused ops (no backward; capabilities.fusedInference): generation's forward, ---------
  // src/nn/fused_forward.ts. Each is defined by a composition of the ops above (src/backends/fused_reference.ts),
  // which is the CPU backend's implementation and the reference GPU kernels are checked against. A backend
  // without them runs the unfused forward.
  /**
   * A projection with its neighbours fused in (see FusedLinearOptions): x [..., K], w [N, K] ([2N, K] with
   * swiglu) → [..., N]. On a GPU, a few rows (a decode step) stream the weight once in one kernel.
   */
  fusedLinear?(x: Tensor, w: Tensor, opts: FusedLinearOptions): Tensor;
  /**
   * The attention inputs of a step from the stacked q/k/v projection: qkv [B, T, Hq + 2·Hkv, D] (+ bias
   * [(Hq + 2·Hkv)·D]); RoPE (at positions i32 [B, T]) on the q and k heads; k and v written into the slot
   * caches [slots, maxLen, Hkv, D] at (slots, starts) exactly as kvWrite writes them. Returns q [B, T, Hq, D].
   */
  ropeKvWrite?(
    qkv: Tensor, bias: Tensor | null, positions: Tensor, theta: number, kCache: Tensor, vCache: Tensor, slots: Tensor, starts: Tensor,
  ): Tensor;
  /**
   * fusedLinear (norm only) then ropeKvWrite, as one op: x [B, T, K] projected by the stacked q/k/v weight w
   * [(Hq + 2·Hkv)·D, K] (Hkv and D from the caches), with bias, RoPE and the cache writes. Returns q [B, T, Hq, D].
   * On a GPU, a decode step's projection and its RoPE/cache epilogue are one kernel.
   */
  qkvRopeKvWrite?(
    x: Tensor, w: Tensor, bias: Tensor | null, norm: { weight: Tensor; eps: number } | null, positions: Tensor, theta: number,
    kCache: Tensor, vCache: Tensor, slots: Tensor, starts: Tensor,
  ): Tensor;

  // ---- optimizer -----------------------------------------------------------------------------------
  /** One AdamW step in place (PyTorch semantics, decoupled weight decay), on fp32 p, m, v; g any float. */
  adamw(p: Tensor, g: Tensor, m: Tensor, v: Tensor, h: AdamWHyper): void;
  /** Sum of squares of all elements, as a host number (for global-norm clipping). */
  sumSquares(t: Tensor): number;
}
