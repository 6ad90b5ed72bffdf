// TrainRng and the seed helpers live in src/tensor/rng.ts (the backends' self-check and data/verify draw from
// them too). This re-export keeps trainer.ts and cli/sft.ts compiling until their imports point there.
export * from '../tensor/rng.ts';
