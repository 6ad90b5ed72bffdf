// onFinishedRequest: each request's results come out together, in sample order, once its last sample ends.
import { describe, expect, it } from 'vitest';
import { onFinishedRequest } from '../src/sample/finished_requests.ts';
import type { GenerationResult } from '../src/sample/request.ts';

const result = (request: number, sample: number) => ({ request, sample, tokens: [1], finishReason: 'length' }) as unknown as GenerationResult;

describe('onFinishedRequest', () => {
  it('hands over a request once all n samples finished, whatever order they finished in', () => {
    const got: [number, number[]][] = [];
    const hook = onFinishedRequest(3, (request, results) => got.push([request, results.map((r) => r.sample)]));
    const events: [number, number][] = [[1, 2], [0, 0], [1, 0], [0, 2], [1, 1], [0, 1]];
    for (const [request, sample] of events) {
      hook({ request, sample, token: 5, text: '' }); // a token that ends nothing
      hook({ request, sample, token: 5, text: '', finished: result(request, sample) });
    }
    expect(got).toEqual([[1, [0, 1, 2]], [0, [0, 1, 2]]]);
  });
});
