// PEFT's tensor names for LoRA weights. One module path, three spellings: the saved file, the live
// PeftModel parameter, and the gradient dump (the parameter name without the `base_model.model.` wrapper).
export type LoraHalf = 'A' | 'B';

const WRAPPER = 'base_model.model.';

/** Key in adapter_model.safetensors, e.g. 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight'. */
export function peftSavedName(module: string, half: LoraHalf): string {
  return `${WRAPPER}${module}.lora_${half}.weight`;
}

/**
 * The trainable parameter's name as PEFT reports it (adapter 'default'), without the `base_model.model.`
 * prefix: 'model.layers.0.self_attn.q_proj.lora_A.default.weight' (the fixture's reference_grads names).
 */
export function peftParamName(module: string, half: LoraHalf, adapterName = 'default'): string {
  return `${module}.lora_${half}.${adapterName}.weight`;
}

/** Split a saved key back into (module, half), or null when it is not a LoRA A/B weight. */
export function parsePeftSavedName(key: string): { module: string; half: LoraHalf } | null {
  const m = /^base_model\.model\.(.+)\.lora_([AB])\.weight$/.exec(key);
  return m ? { module: m[1], half: m[2] as LoraHalf } : null;
}
