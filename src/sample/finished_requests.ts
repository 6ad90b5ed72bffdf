// A Generator onToken hook that hands over each request's results together, once its last sample is done:
// what a long run needs to journal, grade or verify one problem at a time while generation goes on.
import type { TokenEvent } from './generator.ts';
import type { GenerationResult } from './request.ts';

export function onFinishedRequest(n: number, handle: (request: number, results: GenerationResult[]) => void): (e: TokenEvent) => void {
  const pending = new Map<number, GenerationResult[]>();
  return (e) => {
    const r = e.finished;
    if (!r) return;
    const list = pending.get(r.request) ?? [];
    list.push(r);
    if (list.length < n) {
      pending.set(r.request, list);
      return;
    }
    pending.delete(r.request);
    handle(r.request, list.sort((a, b) => a.sample - b.sample));
  };
}
