// The server's counters, and their Prometheus text exposition (GET /metrics): requests by endpoint and
// status, prompt and generated tokens, decode steps, and the queue and batch gauges read at scrape time.

export class ServeMetrics {
  promptTokens = 0;
  generationTokens = 0;
  steps = 0;
  /** Tickets that finished every sample, and those dropped (client gone, shutdown). */
  finished = 0;
  cancelled = 0;
  private readonly requests = new Map<string, number>();

  request(endpoint: string, status: number): void {
    const key = `endpoint="${endpoint}",status="${status}"`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
  }

  /** Prometheus text format 0.0.4. */
  render(gauges: { queuedRequests: number; queuedSamples: number; running: number; maxBatch: number }): string {
    const lines: string[] = [];
    const metric = (name: string, type: 'counter' | 'gauge', help: string, values: [string, number][]) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, v] of values) lines.push(`${name}${labels ? `{${labels}}` : ''} ${v}`);
    };
    metric('still_requests_total', 'counter', 'HTTP requests answered, by endpoint and status.', [...this.requests].sort());
    metric('still_prompt_tokens_total', 'counter', 'Prompt tokens of accepted generation requests.', [['', this.promptTokens]]);
    metric('still_generation_tokens_total', 'counter', 'Tokens generated (a final EOS counts).', [['', this.generationTokens]]);
    metric('still_decode_steps_total', 'counter', 'Batched decode steps.', [['', this.steps]]);
    metric('still_generations_finished_total', 'counter', 'Generation requests whose samples all finished.', [['', this.finished]]);
    metric('still_generations_cancelled_total', 'counter', 'Generation requests dropped before finishing (client gone).', [['', this.cancelled]]);
    metric('still_queue_depth', 'gauge', 'Requests with a sample waiting for a slot.', [['', gauges.queuedRequests]]);
    metric('still_queued_samples', 'gauge', 'Samples waiting for a slot.', [['', gauges.queuedSamples]]);
    metric('still_running_sequences', 'gauge', 'Sequences in the running batch.', [['', gauges.running]]);
    metric('still_max_batch', 'gauge', 'Slots of the running batch.', [['', gauges.maxBatch]]);
    return `${lines.join('\n')}\n`;
  }
}
