// Stop strings matched on the decoded text, as vLLM does: a stop string may span several tokens, so each
// check looks back far enough to catch a match that ends in the newly added text.

export interface StopMatch {
  /** Index in the text where the stop string starts (the text is cut here: the stop string is stripped). */
  at: number;
  stop: string;
}

export class StopMatcher {
  /** Characters a stream must hold back: a stop string may still be completing in them. */
  readonly holdBack: number;

  constructor(readonly stops: readonly string[]) {
    stops.forEach((s, i) => {
      if (typeof s !== 'string' || s.length === 0) throw new Error(`stop string ${i} must be a non-empty string, got ${JSON.stringify(s)}`);
    });
    this.holdBack = Math.max(0, ...stops.map((s) => s.length - 1));
  }

  /** The earliest stop string that ends inside text[checked, text.length), or null. */
  find(text: string, checked: number): StopMatch | null {
    let best: StopMatch | null = null;
    for (const stop of this.stops) {
      const at = text.indexOf(stop, Math.max(0, checked - stop.length + 1));
      if (at >= 0 && (best === null || at < best.at)) best = { at, stop };
    }
    return best;
  }
}
