// bench/gpu.ts: every CUDA check and benchmark in one run on the GPU machine, with PyTorch in the same call.
//   here:   ../shared/gpu/prepare.sh bench/gpu.ts       (bundles this into .gpu/gpu.mjs with Node and koffi)
//   there:  source .gpu/env.sh && node .gpu/gpu.mjs     (from the repo root; carry [".gpu"])
// Options: --only REGEX (run the items whose name matches), --skip-torch, --torch-only LIST (torch_ref.py's
// benchmarks to run, e.g. generate or gemm,generate; default all), --skip-model-bench, --budget S
// (seconds for the whole run, default 300: items past 60% of it are skipped, torch gets the rest), and
// --smoke (tiny sizes everywhere: checks the script itself on the CPU emulator, STILL_CUDA_LIB_DIR=<emu dir>).
// 1. kernels vs the CPU reference on fresh random inputs (bf16-appropriate limits), NVRTC fallback;
// 2. tiny-qwen2 logits, greedy tokens and LoRA gradients vs HF/PEFT (fixtures/), flat memory over steps;
// 3. benchmarks: bf16 GEMM, flash attention fwd/fwd+bwd (T 1024, 4096), decode attention, the fused
//    sampler, the decode projections (fused GEMV vs unfused), generation (batch 1 and 64; the decode step
//    fused and unfused) and a LoRA r16 SFT step (B8×T1024) on Qwen2.5-0.5B shapes;
// 4. bench/torch_ref.py on the same shapes, then one table with the ratios.
// Every item runs in its own try/catch and prints PASS/FAIL/INFO as it goes; a failure never stops the run.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { CudaBackend } from '../src/backends/cuda/index.ts';
import { Nvrtc } from '../src/backends/cuda/nvrtc.ts';
import { SOURCES } from '../src/backends/cuda/kernels.gen.ts';
import { runChecks } from '../src/backends/cuda/selfcheck.ts';
import type { SampleRow } from '../src/backends/backend.ts';
import type { Tensor } from '../src/tensor/tensor.ts';
import {
  benchDecodeGraph, benchGenerate, benchLoraSft, fusedAccuracy, QWEN05, randomModel, tinyGreedyMatches, tinyLogitsError, tinyLoraGradError, tinyTrainingMemory,
} from './gpu_model.ts';
import { deviceMs, graphMs } from './gpu_timing.ts';

type Status = 'PASS' | 'FAIL' | 'INFO' | 'SKIP';
interface Row {
  name: string;
  status: Status;
  detail: string;
}

const args = process.argv.slice(2);
const only = args.includes('--only') ? new RegExp(args[args.indexOf('--only') + 1]) : null;
const smoke = args.includes('--smoke');
// Ours take ~2 min on an H200 and PyTorch's reference ~1 min: 300 s fits both in one device call.
const budgetS = args.includes('--budget') ? Number(args[args.indexOf('--budget') + 1]) : 300;
/** Full size on the GPU, tiny with --smoke. */
const size = (full: number, tiny: number) => (smoke ? tiny : full);
const rows: Row[] = [];
const ours: Record<string, number> = {};
const t0 = performance.now();
const elapsedS = () => (performance.now() - t0) / 1000;

function record(name: string, status: Status, detail: string): void {
  rows.push({ name, status, detail });
  const at = ((performance.now() - t0) / 1000).toFixed(0).padStart(4);
  console.log(`${at}s ${status.padEnd(4)} ${name}: ${detail}`);
}

const wanted = (name: string) => !only || only.test(name);

/** Run one item; an exception becomes a FAIL row with the first line of its message. */
async function item(name: string, fn: () => unknown | Promise<unknown>): Promise<void> {
  if (!wanted(name) && name !== 'kernel checks') return;
  if (name !== 'torch reference' && elapsedS() > 0.6 * budgetS) {
    record(name, 'SKIP', `time budget: ${elapsedS().toFixed(0)} s of ${budgetS} s used (raise --budget)`);
    return;
  }
  try {
    await fn();
  } catch (e) {
    record(name, 'FAIL', `${(e as Error).message.split('\n')[0]}`);
    if (process.env.STILL_DEBUG) console.error((e as Error).stack);
  }
}

const fmtErr = (x: number) => (Number.isFinite(x) ? x.toExponential(2) : String(x));
/** Fused vs unfused bf16 decode logits over the largest: bf16 noise (~2e-2 at Qwen shapes on the emulator) is below. */
const FUSED_LIMIT = 0.1;
const GiB = 2 ** 30;
/** The --smoke stand-in for Qwen2.5-0.5B: same structure (GQA, biases, tied), toy sizes. */
const TINY_QWEN = { ...QWEN05, vocabSize: 512, hiddenSize: 64, intermediateSize: 128, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 16 };

function randomTensor(cuda: CudaBackend, shape: number[], seed: number): Tensor {
  let s = seed >>> 0;
  const n = shape.reduce((a, b) => a * b, 1);
  const data = Float32Array.from({ length: n }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1);
  return cuda.upload(data, shape, 'bf16');
}

async function main(): Promise<void> {
  console.log(`bench/gpu.ts on Node ${process.version}, cwd ${process.cwd()}`);
  let cuda: CudaBackend;
  try {
    cuda = new CudaBackend();
  } catch (e) {
    record('open cuda backend', 'FAIL', `no CUDA device: ${(e as Error).message}`);
    summary(null);
    return;
  }
  const info = cuda.drv.info;
  record('device', 'INFO', `${cuda.device}; libcuda ${info.libraryPath}; cuBLASLt ${cuda.blas?.path ?? `none (${cuda.blasError})`}`);

  // ---- 1. kernels vs the CPU reference --------------------------------------------------------------------
  await item('kernel checks', async () => {
    await runChecks(cuda, smoke ? 'small' : 'large', {
      filter: { test: (name: string) => wanted(`kernel: ${name}`) },
      onResult: (r) => record(`kernel: ${r.name}`, r.pass ? 'PASS' : 'FAIL', `err ${fmtErr(r.maxErr)} (limit ${r.tol}), ${r.ms.toFixed(0)} ms${r.error ? `; ${r.error}` : ''}`),
    });
  });
  record('modules', 'INFO', [...cuda.kernels.loadedBy].map(([m, how]) => `${m}:${how}`).join(' '));

  await item('nvrtc fallback compiles and loads norm.cu', () => {
    let nvrtc: Nvrtc;
    try {
      nvrtc = new Nvrtc();
    } catch (e) {
      record('nvrtc fallback compiles and loads norm.cu', 'SKIP', (e as Error).message);
      return;
    }
    const t = performance.now();
    const headers = Object.fromEntries(Object.entries(SOURCES).filter(([f]) => f.endsWith('.cuh')));
    const ptx = nvrtc.compile('norm.cu', SOURCES['norm.cu'], headers, info.computeCapability);
    const mod = cuda.drv.loadModule(ptx);
    cuda.drv.getFunction(mod, 'rmsnorm_bf16');
    cuda.drv.unloadModule(mod);
    record('nvrtc fallback compiles and loads norm.cu', 'PASS', `${nvrtc.path}, ${(performance.now() - t).toFixed(0)} ms`);
  });

  // ---- 2. model level ---------------------------------------------------------------------------------------
  if (existsSync('fixtures/tiny-qwen2/reference.json')) {
    await item('model: tiny-qwen2 logits f32 vs HF', () => {
      const e = tinyLogitsError(cuda, 'f32');
      record('model: tiny-qwen2 logits f32 vs HF', e < 1e-4 ? 'PASS' : 'FAIL', `max |Δ| ${fmtErr(e)} (limit 1e-4)`);
    });
    await item('model: tiny-qwen2 logits bf16 vs HF', () => {
      const e = tinyLogitsError(cuda, 'bf16');
      record('model: tiny-qwen2 logits bf16 vs HF', e < 0.1 ? 'PASS' : 'FAIL', `max |Δ| ${fmtErr(e)} (limit 0.1, bf16 weights)`);
    });
    await item('model: tiny-qwen2 greedy tokens vs HF', () => {
      const ok = tinyGreedyMatches(cuda);
      record('model: tiny-qwen2 greedy tokens vs HF', ok ? 'PASS' : 'FAIL', ok ? '24 tokens identical (slot cache, fused sampler)' : 'tokens differ');
    });
    await item('model: tiny-qwen2 LoRA gradients vs PEFT', () => {
      const e = tinyLoraGradError(cuda);
      record('model: tiny-qwen2 LoRA gradients vs PEFT', e.loss < 1e-5 && e.grads < 1e-4 ? 'PASS' : 'FAIL', `loss |Δ| ${fmtErr(e.loss)}, worst grad rel err ${fmtErr(e.grads)} (limits 1e-5, 1e-4)`);
    });
    await item('model: device memory flat over LoRA steps', () => {
      const m = tinyTrainingMemory(cuda, 6);
      const flat = new Set(m.deviceAllocs.slice(1)).size === 1 && new Set(m.inUse).size === 1;
      record('model: device memory flat over LoRA steps', flat ? 'PASS' : 'FAIL', `cuMemAlloc calls after each step ${m.deviceAllocs.join(',')}; in use ${m.inUse.map((b) => (b / 2 ** 20).toFixed(1)).join(',')} MiB`);
    });
  } else {
    record('model checks', 'SKIP', 'fixtures/tiny-qwen2 not found (run from the repo root)');
  }

  // ---- 3. benchmarks ----------------------------------------------------------------------------------------
  for (const n of smoke ? [64] : [1024, 4096, 8192]) {
    await item(`bench: GEMM bf16 ${n}³`, () => {
      const a = randomTensor(cuda, [n, n], 1);
      const b = randomTensor(cuda, [n, n], 2);
      const ms = deviceMs(cuda, () => cuda.matmul(a, b, false, false), n < 8192 ? 20 : 10);
      a.dispose();
      b.dispose();
      ours[`gemm_bf16_${n}`] = (2 * n ** 3) / (ms / 1e3) / 1e12;
      record(`bench: GEMM bf16 ${n}³`, 'INFO', `${ms.toFixed(3)} ms, ${ours[`gemm_bf16_${n}`].toFixed(0)} TFLOP/s`);
    });
  }

  for (const [batch, t] of smoke ? [[1, 64]] : [[8, 1024], [2, 4096]]) {
    await item(`bench: attention T=${t}`, () => {
      const [hq, hkv, d] = [14, 2, 64];
      const q = randomTensor(cuda, [batch, t, hq, d], 3);
      const k = randomTensor(cuda, [batch, t, hkv, d], 4);
      const v = randomTensor(cuda, [batch, t, hkv, d], 5);
      const go = randomTensor(cuda, [batch, t, hq, d], 6);
      const opts = { scale: 1 / Math.sqrt(d), causal: true };
      const fwd = deviceMs(cuda, () => {
        const r = cuda.attention(q, k, v, opts);
        return [r.o, r.lse];
      }, 10);
      const fb = deviceMs(cuda, () => {
        const r = cuda.attention(q, k, v, opts);
        const g = cuda.attentionBackward(go, q, k, v, r.o, r.lse, opts);
        return [r.o, r.lse, g.gq, g.gk, g.gv];
      }, 5);
      // The forward again with 64 queries a block (the previous default), to keep the better one.
      cuda.flashQueryTiles = 1;
      const fwd64 = deviceMs(cuda, () => {
        const r = cuda.attention(q, k, v, opts);
        return [r.o, r.lse];
      }, 10);
      cuda.flashQueryTiles = 2;
      for (const x of [q, k, v, go]) x.dispose();
      ours[`attention_T${t}_fwd`] = fwd;
      ours[`attention_T${t}_fwd_bwd`] = fb;
      const flops = (4 * batch * hq * t * t * d) / 2; // causal: half the score matrix
      record(`bench: attention T=${t}`, 'INFO', `B${batch} H${hq}/${hkv} D${d} causal: fwd ${fwd.toFixed(3)} ms (${(flops / fwd / 1e9).toFixed(0)} TFLOP/s; 64 queries a block: ${fwd64.toFixed(3)} ms), fwd+bwd ${fb.toFixed(3)} ms (bwd ${(fb - fwd).toFixed(3)})`);
    });
  }

  await item('bench: decode attention', () => {
    // One layer's decode step over a slot cache (14/2 heads, D 64): the batch-64 goal shape, a shorter cache,
    // and batch 1, where latency rather than bandwidth decides.
    const [hq, hkv, d] = [14, 2, 64];
    const parts: string[] = [];
    for (const [b, len] of smoke ? [[2, 40], [1, 100]] : [[64, 1024], [64, 256], [1, 1024], [1, 128]]) {
      const kc = randomTensor(cuda, [b, len, hkv, d], 7);
      const vc = randomTensor(cuda, [b, len, hkv, d], 8);
      const q = randomTensor(cuda, [b, 1, hq, d], 9);
      const slots = cuda.upload(Int32Array.from({ length: b }, (_, i) => i), [b], 'i32');
      const lens = cuda.upload(new Int32Array(b).fill(len), [b], 'i32');
      const attend = () => cuda.slotAttention(q, kc, vc, slots, lens, 0.125);
      const ms = graphMs(cuda, attend);
      const eager = deviceMs(cuda, attend, 50);
      for (const x of [kc, vc, q, slots, lens]) x.dispose();
      const bytes = 2 * b * len * hkv * d * 2;
      parts.push(`B${b}×${len}: ${(ms * 1000).toFixed(1)} µs (${(bytes / (ms / 1e3) / 1e12).toFixed(2)} TB/s; eager ${(eager * 1000).toFixed(1)})`);
    }
    record('bench: decode attention', 'INFO', `per layer step in a graph, K/V read once: ${parts.join(', ')}`);
  });

  await item('bench: fused sampler', () => {
    // Device time of the sampler kernels alone (sampleInto, CUDA events), per row configuration: launched
    // eagerly (each launch's host cost included where the GPU outruns it), and captured once into a CUDA graph
    // and replayed (what a captured decode step pays); then one whole call of the eager API (parameter upload,
    // kernels, token download) for the benchmark's setting.
    const vocab = size(151936, 1000);
    const configs: [string, Partial<SampleRow>][] = [
      ['greedy', { temperature: 0 }], ['temperature 0.7', {}], ['top-p 0.95', { topP: 0.95 }], ['top-k 50 + top-p 0.95', { topK: 50, topP: 0.95 }],
    ];
    const parts: string[] = [];
    for (const n of [size(64, 2), 1]) {
      const logits = randomTensor(cuda, [n, vocab], 10);
      const out = cuda.zeros([2 * n], 'i32');
      const params = cuda.createSampleParams(n, 0);
      const rowsFor = (extra: Partial<SampleRow>): SampleRow[] => Array.from({ length: n }, (_, i) => ({
        temperature: 0.7, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1, penalized: new Int32Array(0),
        key: [i, 0] as [number, number], counter: [0, 0, i] as [number, number, number], ...extra,
      }));
      const times = configs.map(([name, extra]) => {
        params.write(rowsFor(extra), vocab);
        const sample = () => cuda.sampleInto(logits, params, out);
        const eagerUs = deviceMs(cuda, sample, 20) * 1000;
        const graphUs = graphMs(cuda, sample, 1, size(50, 2)) * 1000;
        return `${name} ${eagerUs.toFixed(0)} (graph: ${graphUs.toFixed(0)})`;
      });
      const rows = rowsFor({ topP: 0.95 });
      for (let i = 0; i < 2; i++) cuda.sample(logits, rows);
      const t = performance.now();
      const iters = size(20, 1);
      for (let i = 0; i < iters; i++) cuda.sample(logits, rows);
      const callMs = (performance.now() - t) / iters;
      parts.push(`${n}×${vocab}: ${times.join(', ')} µs on the device, eager (graph: µs a replay); top-p call incl. upload/download ${(callMs * 1000).toFixed(0)} µs`);
      params.dispose();
      out.dispose();
      logits.dispose();
    }
    record('bench: fused sampler', 'INFO', parts.join('; '));
  });

  await item('bench: decode projections', () => {
    // One projection of a decode step (Qwen2.5-0.5B shapes) as the fused kernel (fusedLinear: a GEMV up to 8
    // rows, with the norm / bias / SwiGLU / residual folded in) against the unfused ops (cuBLASLt + elementwise).
    const [h, ff, qkv, vocab] = [size(896, 64), size(4864, 128), size(1152, 128), size(151936, 512)];
    const shapes: [string, number, number, 'norm' | 'swiglu' | 'residual'][] = [
      ['qkv', h, qkv, 'norm'], ['o', h, h, 'residual'], ['gate/up', h, ff, 'swiglu'], ['down', ff, h, 'residual'], ['lm head', h, vocab, 'norm'],
    ];
    const parts: string[] = [];
    for (const m of [1, 64]) {
      const row: string[] = [];
      for (const [name, k, n, kind] of shapes) {
        const x = randomTensor(cuda, [m, k], 11);
        const w = randomTensor(cuda, [kind === 'swiglu' ? 2 * n : n, k], 12);
        const nw = randomTensor(cuda, [k], 13);
        const r = randomTensor(cuda, [m, n], 14);
        const opts = kind === 'norm' ? { norm: { weight: nw, eps: 1e-6 } } : kind === 'swiglu' ? { swiglu: true } : { residual: r };
        const fused = graphMs(cuda, () => cuda.fusedLinear(x, w, opts));
        const plain = graphMs(cuda, () => {
          const out: Tensor[] = [];
          let hIn = x;
          if (kind === 'norm') {
            const { y, rstd } = cuda.rmsnorm(x, nw, 1e-6);
            out.push(y, rstd);
            hIn = y;
          }
          const y = cuda.matmul(hIn, w, false, true);
          out.push(y);
          if (kind === 'swiglu') {
            const [g, u] = [cuda.slice(y, 1, 0, n), cuda.slice(y, 1, n, 2 * n)];
            out.push(g, u, cuda.swiglu(g, u));
          }
          if (kind === 'residual') out.push(cuda.binary('add', r, y));
          return out;
        });
        const gbps = (w.size * 2) / (fused / 1e3) / 1e9;
        row.push(`${name} ${(fused * 1000).toFixed(1)} µs (${gbps.toFixed(0)} GB/s) vs ${(plain * 1000).toFixed(1)}`);
        for (const t of [x, w, nw, r]) t.dispose();
      }
      parts.push(`m=${m}: ${row.join(', ')}`);
    }
    record('bench: decode projections', 'INFO', `fused vs unfused (µs a call in a graph; the LM head takes cuBLASLt either way): ${parts.join('; ')}`);
  });

  if (!args.includes('--skip-model-bench') && wanted('bench: qwen0.5b')) {
    const built: { model: ReturnType<typeof randomModel> | null } = { model: null };
    await item('bench: qwen0.5b random model', () => {
      const t = performance.now();
      built.model = randomModel(cuda, smoke ? TINY_QWEN : QWEN05, 'bf16');
      record('bench: qwen0.5b random model', 'INFO', `built in ${(performance.now() - t).toFixed(0)} ms, ${(cuda.memoryStats().inUse / GiB).toFixed(2)} GiB in use`);
    });
    if (built.model) {
      const m = built.model;
      await item('model: qwen0.5b fused decode step vs unfused', () => {
        // f32 weights: the two paths differ only in summation order (~1e-6); bf16: both carry rounding noise
        // (~2e-2 of the largest logit on the emulator, for either path against f32), and fused must not add to it.
        const a = fusedAccuracy(cuda, m);
        const ok = a.f32FusedVsUnfused < 1e-3 && a.bf16FusedVsF32 <= 2 * a.bf16UnfusedVsF32 + 1e-3;
        record('model: qwen0.5b fused decode step vs unfused', ok ? 'PASS' : 'FAIL',
          `max |Δlogit| / max |logit|: f32 weights fused vs unfused ${fmtErr(a.f32FusedVsUnfused)} (limit 1e-3); bf16 vs the f32 model: fused ${fmtErr(a.bf16FusedVsF32)}, unfused ${fmtErr(a.bf16UnfusedVsF32)} (limit: fused ≤ 2 × unfused + 1e-3)`);
      });
      // Generation first (the open goal), through the fused inference path (src/nn/fused_forward.ts).
      for (const batch of [1, 64]) {
        for (const graphs of [true, false]) {
          const name = `bench: qwen0.5b generate batch ${batch}${graphs ? '' : ', ops launched one by one'}`;
          await item(name, () => {
            const r = benchGenerate(cuda, m, batch, size(256, 6), graphs);
            if (graphs) ours[`generate_b${batch}`] = r.tokensPerSec;
            record(name, 'INFO', `${r.tokensPerSec.toFixed(0)} tok/s (256 new tokens, top-p 0.95), ${r.decodeMsPerStep.toFixed(2)} ms per decode step${graphs ? ' (CUDA graph)' : ''}, prefill ${r.prefillMs.toFixed(0)} ms`);
          });
        }
      }
      for (const batch of [1, 64]) {
        const name = `bench: qwen0.5b decode step as a CUDA graph, batch ${batch}`;
        await item(name, () => {
          const f = benchDecodeGraph(cuda, m, batch, size(64, 3));
          const u = benchDecodeGraph(cuda, m, batch, size(64, 3), 32, false);
          ours[`graph_b${batch}`] = f.graphTokensPerSec;
          ours[`graph_b${batch}_unfused`] = u.graphTokensPerSec;
          // The fused step against the unfused one on the same inputs: bf16 roundings in other places and
          // another summation order give small differences; a wrong kernel gives differences of order 1.
          const ok = f.maxLogitDiff < 1e-2 && u.maxLogitDiff < 1e-2 && f.fusedVsUnfused! < FUSED_LIMIT;
          record(name, ok ? 'PASS' : 'FAIL',
            `fused: ${f.launchesPerForward} launches a forward, eager ${f.eagerMsPerStep.toFixed(2)} ms/step, graph ${f.graphMsPerStep.toFixed(2)} ms/step (${f.graphTokensPerSec.toFixed(0)} tok/s incl. sampling; ` +
            `device: forward graph ${f.forwardDeviceMs.toFixed(3)} ms + top-p sampler ${f.samplerDeviceMs.toFixed(3)} ms, the rest is host); ` +
            `unfused: ${u.launchesPerForward} launches, eager ${u.eagerMsPerStep.toFixed(2)}, graph ${u.graphMsPerStep.toFixed(2)} ms/step (${u.graphTokensPerSec.toFixed(0)} tok/s); ` +
            `replay vs eager max |Δlogit| ${fmtErr(f.maxLogitDiff)} / ${fmtErr(u.maxLogitDiff)}; fused vs unfused max |Δlogit| / max |logit| ${fmtErr(f.fusedVsUnfused!)} (limit ${FUSED_LIMIT})`);
        });
      }
      m.releaseFusedWeights(); // the SFT step below runs unfused (LoRA attached): keep its peak memory comparable
      await item('bench: qwen0.5b LoRA SFT B8×T1024', () => {
        const r = benchLoraSft(cuda, m, size(8, 2), size(1024, 32), size(3, 1));
        ours.lora_sft = r.tokensPerSec;
        ours.lora_sft_peak = r.peakBytes;
        record('bench: qwen0.5b LoRA SFT B8×T1024', r.losses.every(Number.isFinite) ? 'INFO' : 'FAIL',
          `${r.msPerStep.toFixed(0)} ms/step, ${r.tokensPerSec.toFixed(0)} tok/s, peak in use ${(r.peakBytes / GiB).toFixed(1)} GiB (torch's max_memory_allocated counts the same), reserved ${(r.peakReservedBytes / GiB).toFixed(1)} GiB, losses ${r.losses.map((x) => x.toFixed(3)).join(' ')}, cuMemAlloc during steps ${r.allocsDuringSteps}`);
      });
      m.releaseFusedWeights();
      for (const w of m.weights.values()) w.dispose();
    }
  }
  cuda.emptyCache();

  // ---- 4. PyTorch in the same call ----------------------------------------------------------------------------
  let torch: Record<string, any> | null = null;
  if (!args.includes('--skip-torch') && wanted('torch')) {
    await item('torch reference', () => {
      const t = performance.now();
      const timeoutS = Math.round(Math.max(90, Math.min(240, budgetS - elapsedS()))); // ~65 s on an H200; spawnSync wants whole ms
      const torchOnly = smoke ? 'gemm' : args.includes('--torch-only') ? args[args.indexOf('--torch-only') + 1] : null;
      const p = spawnSync('python3', ['bench/torch_ref.py', ...(torchOnly ? ['--only', torchOnly] : [])], { encoding: 'utf8', timeout: timeoutS * 1000, stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 });
      // Each finished measurement is a `RESULT {json}` line, so a timeout keeps what was measured before it.
      const got: Record<string, any> = {};
      for (const line of (p.stdout ?? '').split('\n')) if (line.startsWith('RESULT ')) Object.assign(got, JSON.parse(line.slice(7)));
      torch = got;
      const errors = Object.entries(got.errors ?? {}).map(([k, v]) => `${k}: ${v}`);
      if (p.error) errors.push(`${(p.error as Error).message} after ${timeoutS} s`);
      record('torch reference', errors.length ? 'FAIL' : 'INFO', `torch ${got.torch ?? '?'} on ${got.device ?? '?'}, ${((performance.now() - t) / 1000).toFixed(0)} s${errors.length ? `; ${errors.join('; ')}` : ''}`);
    });
  }
  summary(torch);
}

function summary(torch: Record<string, any> | null): void {
  console.log('\n==== summary ====');
  const checks = rows.filter((r) => r.status === 'PASS' || r.status === 'FAIL');
  const failed = checks.filter((r) => r.status === 'FAIL');
  console.log(`checks: ${checks.length - failed.length} passed, ${failed.length} failed${failed.length ? `: ${failed.map((r) => r.name).join('; ')}` : ''}`);
  const line = (what: string, o: number | undefined, t: number | undefined, unit: string, higherIsBetter: boolean) => {
    const f = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '—' : x >= 100 ? x.toFixed(0) : x.toFixed(3));
    const ratio = o !== undefined && t !== undefined && o > 0 && t > 0 ? (higherIsBetter ? o / t : t / o) : undefined;
    console.log(`${what.padEnd(34)} ${f(o).padStart(10)} ${f(t).padStart(10)} ${unit.padEnd(8)} ${ratio === undefined ? '—' : `${ratio.toFixed(2)}×`}`);
  };
  console.log(`${'benchmark'.padEnd(34)} ${'ours'.padStart(10)} ${'torch'.padStart(10)} ${'unit'.padEnd(8)} ours/torch (higher = better)`);
  for (const n of [1024, 4096, 8192]) line(`GEMM bf16 ${n}³`, ours[`gemm_bf16_${n}`], torch?.[`gemm_bf16_${n}`]?.tflops, 'TFLOP/s', true);
  for (const t of [1024, 4096]) {
    line(`attention fwd T=${t}`, ours[`attention_T${t}_fwd`], torch?.[`attention_T${t}`]?.fwd_ms, 'ms', false);
    line(`attention fwd+bwd T=${t}`, ours[`attention_T${t}_fwd_bwd`], torch?.[`attention_T${t}`]?.fwd_bwd_ms, 'ms', false);
  }
  line('LoRA r16 SFT B8×T1024', ours.lora_sft, torch?.lora_sft?.tokens_per_sec, 'tok/s', true);
  line('  peak memory', ours.lora_sft_peak && ours.lora_sft_peak / GiB, torch?.lora_sft?.peak_bytes && torch.lora_sft.peak_bytes / GiB, 'GiB', false);
  line('generate 256 tokens, batch 1', ours.generate_b1, torch?.generate_b1?.tokens_per_sec, 'tok/s', true);
  line('generate 256 tokens, batch 64', ours.generate_b64, torch?.generate_b64?.tokens_per_sec, 'tok/s', true);
  line('  decode as CUDA graph, batch 1', ours.graph_b1, torch?.generate_b1?.tokens_per_sec, 'tok/s', true);
  line('  decode as CUDA graph, batch 64', ours.graph_b64, torch?.generate_b64?.tokens_per_sec, 'tok/s', true);
  line('  same, unfused ops, batch 1', ours.graph_b1_unfused, torch?.generate_b1?.tokens_per_sec, 'tok/s', true);
  line('  same, unfused ops, batch 64', ours.graph_b64_unfused, torch?.generate_b64?.tokens_per_sec, 'tok/s', true);
  console.log(`total ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}

main().catch((e) => {
  console.error(`bench/gpu.ts: ${(e as Error).stack}`);
  summary(null);
});
