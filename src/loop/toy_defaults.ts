// The toy stage commands' defaults (`still imitate|explore|improve --task`) are the demo's recipe: read
// from examples/demo.json, the config `npm run demo` runs, so the two can never drift apart.
import type { SamplingConfig, TrainStageConfig } from './config.ts';
import { loadConfig } from './config.ts';

export const DEMO_CONFIG_URL = new URL('../../examples/demo.json', import.meta.url);

export interface ToyStageDefaults {
  imitate: TrainStageConfig;
  improve: TrainStageConfig;
  explore: Pick<SamplingConfig, 'k' | 'temperature' | 'topP'>;
}

let cached: ToyStageDefaults | null = null;

export function toyStageDefaults(): ToyStageDefaults {
  if (cached) return cached;
  const demo = loadConfig(DEMO_CONFIG_URL.pathname);
  const train = (s: TrainStageConfig): TrainStageConfig => ({
    epochs: s.epochs, lr: s.lr, batchSize: s.batchSize, warmup: s.warmup, schedule: s.schedule, weightDecay: s.weightDecay, maxGradNorm: s.maxGradNorm,
  });
  cached = {
    imitate: train(demo.imitate),
    improve: train(demo.improve),
    explore: { k: demo.explore.k, temperature: demo.explore.temperature, topP: demo.explore.topP },
  };
  return cached;
}
