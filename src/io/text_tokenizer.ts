// The tokenizer interface shared by the character tokenizer (toy tasks) and the HF tokenizer wrapper.

export interface TextTokenizer {
  /** Number of ids; every id returned by encode is in [0, vocabSize). */
  vocabSize: number;
  /** Id that ends a sequence (generation stops on it). */
  eosId: number;
  /** Id used to pad batches; never produced by encode for real text. */
  padId: number;
  encode(text: string): number[];
  decode(ids: number[]): string;
  /** Human-readable form of one id, for debugging and logs. */
  tokenToString?(id: number): string;
}
