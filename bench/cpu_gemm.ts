// Benchmarks the CPU f32 GEMM (1 thread and all threads) against tfjs-backend-wasm's matMul, in one run.
// Run: npx tsx bench/cpu_gemm.ts [--quick]      (prints GFLOP/s per shape and our/tfjs ratios)
// tfjs-backend-wasm is a dev dependency used only here. In Node it runs single-threaded: its threaded build
// spawns workers from blob: URLs, which Node's worker_threads reject, so 1 thread is its only working setup.
// tfjs is imported at run time by a computed name, so an esbuild bundle of this file leaves it out and still
// runs (without the peer column) where there is no node_modules, e.g. on the GPU machine.
import { cpus, loadavg } from 'node:os';
import { gemm, gemmLastThreadsUsed, gemmThreads, setGemmThreads, warmGemmThreads } from '../src/backends/cpu/gemm.ts';

interface Shape {
  name: string;
  batch: number;
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
}

function shape(name: string, m: number, n: number, k: number, transA = false, transB = false, batch = 1): Shape {
  return { name, batch, m, n, k, transA, transB };
}

const shapes: Shape[] = [
  shape('square 256', 256, 256, 256),
  shape('square 512', 512, 512, 512),
  shape('square 1024', 1024, 1024, 1024),
  // Linear layers of the demo model: x·Wᵀ forward (NT), dY·W for the input gradient (NN), dYᵀ·X for the weight gradient (TN).
  shape('x·Wᵀ 4096×256→256', 4096, 256, 256, false, true),
  shape('x·Wᵀ 4096×512→512', 4096, 512, 512, false, true),
  shape('x·Wᵀ 2048×128→384', 2048, 384, 128, false, true),
  shape('x·Wᵀ 4096×64→192', 4096, 192, 64, false, true),
  shape('logits 4096×256→128', 4096, 128, 256, false, true),
  shape('dY·W 4096×256←256', 4096, 256, 256),
  shape('dYᵀ·X 256×256 (k=4096)', 256, 256, 4096, true, false),
  shape('dYᵀ·X 128×64 (k=4096)', 128, 64, 4096, true, false),
  // Attention scores and values, batched over 16 heads×sequences.
  shape('QKᵀ 16×(256×256, d 32)', 256, 256, 32, false, true, 16),
  shape('P·V 16×(256×32, k 256)', 256, 32, 256, false, false, 16),
  // Decode: a few tokens through a linear layer.
  shape('decode 1×512→512', 1, 512, 512, false, true),
  shape('decode 16×256→256', 16, 256, 256, false, true),
  shape('decode 64×512→512', 64, 512, 512, false, true),
];

const quick = process.argv.includes('--quick');
const MIN_SECONDS = quick ? 0.15 : 0.5;

/** Process CPU time in ms (all threads): on a shared machine flops per CPU-second shows what our code does
 *  when it runs, while wall-clock also counts the time other processes held the cores. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

interface Rate {
  /** GFLOP per wall-clock second, best of 3 windows. */
  wall: number;
  /** GFLOP per CPU-second of this process, best of 3 windows. */
  perCpu: number;
}

/** Best rates over three timing windows; each window repeats fn until it has run MIN_SECONDS/3. */
function measure(flops: number, fn: () => void): Rate {
  for (let i = 0; i < 3; i++) fn(); // warm-up: tier-up to optimized code, grow memory, start workers
  const rate: Rate = { wall: 0, perCpu: 0 };
  for (let w = 0; w < 3; w++) {
    let reps = 0;
    const t0 = performance.now();
    const c0 = cpuMs();
    let ms = 0;
    do {
      fn();
      reps++;
      ms = performance.now() - t0;
    } while (ms < (MIN_SECONDS * 1000) / 3);
    rate.wall = Math.max(rate.wall, (flops * reps) / ms / 1e6);
    rate.perCpu = Math.max(rate.perCpu, (flops * reps) / Math.max(cpuMs() - c0, 1e-3) / 1e6);
  }
  return rate;
}

function random(len: number): Float32Array {
  const x = new Float32Array(len);
  let s = 12345;
  for (let i = 0; i < len; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    x[i] = s / 2 ** 31 - 1;
  }
  return x;
}

/** The peer's matMul on the 'wasm' backend, or null (with the reason printed) when tfjs cannot be loaded. */
interface Peer {
  describe: string;
  /** Times op(A)·op(B) including the download of the result, as ours includes copying it out. */
  prepare(a: Float32Array, b: Float32Array, s: Shape): { run: () => void; dispose: () => void };
}

async function loadPeer(): Promise<Peer | null> {
  const names = ['@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-wasm'];
  try {
    const tf = await import(names[0]);
    const wasm = await import(names[1]);
    await tf.setBackend('wasm');
    await tf.ready();
    return {
      describe: `tfjs-backend-wasm ${tf.version_core}: ${wasm.getThreadsCount()} thread, SIMD ${tf.env().getBool('WASM_HAS_SIMD_SUPPORT')}`,
      prepare(a, b, s) {
        const ta = tf.tensor3d(a, s.transA ? [s.batch, s.k, s.m] : [s.batch, s.m, s.k]);
        const tb = tf.tensor3d(b, s.transB ? [s.batch, s.n, s.k] : [s.batch, s.k, s.n]);
        return {
          run() {
            const c = tf.matMul(ta, tb, s.transA, s.transB);
            c.dataSync();
            c.dispose();
          },
          dispose() {
            ta.dispose();
            tb.dispose();
          },
        };
      },
    };
  } catch (err) {
    console.log(`peer unavailable (${(err as Error).message.split('\n')[0]}); printing our numbers only`);
    return null;
  }
}

async function main(): Promise<void> {
  const peer = await loadPeer();
  const allThreads = gemmThreads();
  warmGemmThreads();
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const load = () => loadavg()[0].toFixed(1);
  console.log(`CPU: ${cpu}, ${cpus().length} cores, load average ${load()} at start; Node ${process.version}; ` +
    `ours: up to ${allThreads} threads; ${peer?.describe ?? 'no peer'}`);
  const rows: string[][] = [['shape', 'b×m×n×k', 'op', 'ours 1T', `ours ${allThreads}T`, 'tfjs-wasm', 'ratio 1T', `ratio ${allThreads}T`,
    'per CPU-s: 1T', `${allThreads}T`, 'tfjs']];
  for (const s of shapes) {
    const { batch, m, n, k, transA, transB } = s;
    const flops = 2 * batch * m * n * k;
    const a = random(batch * m * k);
    const b = random(batch * k * n);
    const out = new Float32Array(batch * m * n);
    const run = () => gemm({ a, b, out, batch, m, n, k, transA, transB, strideA: m * k, strideB: k * n, strideOut: m * n, accumulate: false });
    setGemmThreads(1);
    const one = measure(flops, run);
    setGemmThreads(allThreads);
    const all = measure(flops, run);
    const usedAll = gemmLastThreadsUsed();
    let peerRate: Rate = { wall: NaN, perCpu: NaN };
    if (peer) {
      const job = peer.prepare(a, b, s);
      peerRate = measure(flops, job.run);
      job.dispose();
    }
    const op = (transA ? 'T' : 'N') + (transB ? 'T' : 'N');
    const fmt = (x: number, digits: number) => (Number.isNaN(x) ? 'n/a' : x.toFixed(digits));
    rows.push([s.name, `${batch}×${m}×${n}×${k}`, op, one.wall.toFixed(1),
      `${all.wall.toFixed(1)}${usedAll < allThreads ? ` (${usedAll}T)` : ''}`, fmt(peerRate.wall, 1),
      fmt(one.wall / peerRate.wall, 2), fmt(all.wall / peerRate.wall, 2),
      one.perCpu.toFixed(1), all.perCpu.toFixed(1), fmt(peerRate.perCpu, 1)]);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  console.log(`GFLOP/s, best of 3 windows, copies in and out included. "(1T)": the workers took no task in the last call.`);
  console.log(`"per CPU-s": GFLOP per CPU-second of this process (all threads), which other load does not dilute.`);
  for (const r of rows) console.log(r.map((cell, c) => (c < 3 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '));
  console.log(`load average ${load()} at end`);
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
