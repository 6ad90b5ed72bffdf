// Deterministic memory: tensors made inside tidy() are disposed when it returns, unless returned or kept.
// GPU memory must never wait for the JS garbage collector, so every training step runs inside one.
import type { Tensor } from './tensor.ts';

const scopes: Set<Tensor>[] = [];

export function track(t: Tensor): void {
  scopes[scopes.length - 1]?.add(t);
}

/** Move a tensor out of every open scope so it outlives them (parameters, optimizer state, caches). */
export function keep<T extends Tensor>(t: T): T {
  for (const s of scopes) s.delete(t);
  return t;
}

/** Run fn; dispose every tensor created inside that fn did not return or keep. */
export function tidy<R>(fn: () => R): R {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: R;
  try {
    result = fn();
  } finally {
    scopes.pop();
  }
  const survivors = new Set<Tensor>();
  collect(result, survivors);
  for (const t of scope) {
    if (survivors.has(t)) track(t); // hand ownership to the enclosing scope
    else t.dispose();
  }
  return result;
}

function collect(value: unknown, out: Set<Tensor>): void {
  if (value === null || typeof value !== 'object') return;
  if ('storage' in value && 'shape' in value && 'dtype' in value) {
    out.add(value as Tensor);
    return;
  }
  if (Array.isArray(value)) for (const v of value) collect(v, out);
  else if (Object.getPrototypeOf(value) === Object.prototype) for (const v of Object.values(value)) collect(v, out);
}
