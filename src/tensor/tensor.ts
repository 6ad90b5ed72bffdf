// Tensor: a shape, a dtype and a reference-counted storage on one backend, plus its autograd node.
import type { Backend } from '../backends/backend.ts';
import type { DType, HostArray } from './dtype.ts';
import { fmt, numel, resolveShape, type Shape } from './shape.ts';
import { track } from './scope.ts';

/** Device memory behind one or more tensors (views share it). Freed when the last holder disposes. */
export class Storage {
  refs = 1;
  /** Bumped by every in-place write (copyInto, adamw, ...), so caches derived from it can tell they are stale. */
  version = 0;
  constructor(readonly backend: Backend, public handle: unknown) {}
}

/** How a tensor was made, for reverse-mode autodiff (see autograd.ts). */
export interface GradNode {
  readonly inputs: readonly Tensor[];
  /** Given d(loss)/d(output), return d(loss)/d(input) per input (null where not needed). */
  backward(grad: Tensor): (Tensor | null)[];
}

let nextId = 0;

export class Tensor {
  readonly id = nextId++;
  readonly shape: readonly number[];
  requiresGrad = false;
  grad: Tensor | null = null;
  node: GradNode | null = null;
  private disposed = false;

  constructor(readonly storage: Storage, shape: Shape, readonly dtype: DType) {
    this.shape = [...shape];
    track(this);
  }

  get backend(): Backend {
    return this.storage.backend;
  }
  get size(): number {
    return numel(this.shape);
  }
  get rank(): number {
    return this.shape.length;
  }
  get isDisposed(): boolean {
    return this.disposed;
  }

  /** A host copy of the elements (f32/f64/i32; bf16/f16 come back as f32). */
  toArray(): HostArray {
    this.assertLive();
    return this.backend.download(this);
  }

  /** The value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new Error(`item() needs a one-element tensor, got shape ${fmt(this.shape)}`);
    return this.toArray()[0];
  }

  /** Nested JS arrays, for JSON output and tests. */
  toNested(): unknown {
    const flat = Array.from(this.toArray() as ArrayLike<number>);
    const build = (dim: number, off: number): unknown => {
      if (dim === this.shape.length) return flat[off];
      const step = numel(this.shape.slice(dim + 1));
      return Array.from({ length: this.shape[dim] }, (_, i) => build(dim + 1, off + i * step));
    };
    return build(0, 0);
  }

  /** A view with a new shape over the same storage (no copy; autograd-aware via ops.reshape). */
  view(shape: Shape): Tensor {
    this.assertLive();
    const target = resolveShape(shape, this.size);
    this.storage.refs++;
    return new Tensor(this.storage, target, this.dtype);
  }

  /** Mark as a trainable leaf. */
  requireGrad(on = true): this {
    this.requiresGrad = on;
    return this;
  }

  /** Release this tensor's hold on its storage; device memory is freed when no view holds it. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.node = null;
    if (--this.storage.refs === 0) this.backend.release(this.storage);
  }

  assertLive(): void {
    if (this.disposed) throw new Error(`tensor #${this.id} ${fmt(this.shape)} was used after dispose()`);
  }

  toString(): string {
    return `Tensor(${fmt(this.shape)}, ${this.dtype}, ${this.backend.name})`;
  }
}
