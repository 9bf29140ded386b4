/**
 * llama.cpp's own quantizer as the oracle: llama_model_quantize from
 * node-llama-cpp's libllama.v0.4.0.so, called through koffi with the
 * llama_model_quantize_params layout of that llama.cpp (include/llama.h).
 * Single-threaded, logging silenced.
 */
import { join } from 'node:path';
import { haveLlamaLib, LLAMA_LIB_DIR } from '../../../helpers/llama-libs.ts';

export const LIBLLAMA = 'libllama.v0.4.0.so';

export interface LlamaQuantizeOptions {
  /** llama_ftype (general.file_type). */
  ftype: number;
  allowRequantize?: boolean;
}

// biome-ignore lint/suspicious/noExplicitAny: koffi's function objects are untyped variadic calls
type CFunc = (...args: any[]) => any;

let quantizeFn: ((input: string, output: string, opts: LlamaQuantizeOptions) => number) | undefined;

/** Whether the library is there (warns, or throws under CI, when not). */
export function haveLlamaQuantize(): boolean {
  return haveLlamaLib(LIBLLAMA);
}

/** Quantizes input into output with llama.cpp; resolves to llama_model_quantize's return code (0 = success). */
export async function llamaQuantize(input: string, output: string, opts: LlamaQuantizeOptions): Promise<number> {
  if (quantizeFn === undefined) {
    const koffi = (await import('koffi')).default;
    const lib = koffi.load(join(LLAMA_LIB_DIR, LIBLLAMA));
    koffi.struct('llama_model_quantize_params', {
      nthread: 'int32_t',
      ftype: 'int', // enum llama_ftype
      output_tensor_type: 'int', // enum ggml_type
      token_embedding_type: 'int',
      allow_requantize: 'bool',
      quantize_output_tensor: 'bool',
      only_copy: 'bool',
      pure: 'bool',
      keep_split: 'bool',
      dry_run: 'bool',
      imatrix: 'void *',
      kv_overrides: 'void *',
      tt_overrides: 'void *',
      prune_layers: 'void *',
      max_buf_size: 'size_t',
    });
    const logProto = koffi.proto('void chord_llama_log(int level, const char *text, void *user_data)');
    const silent = koffi.register(() => {}, koffi.pointer(logProto));
    (lib.func('void llama_log_set(chord_llama_log *cb, void *user_data)') as CFunc)(silent, null);
    (lib.func('void llama_backend_init(void)') as CFunc)();
    const defaults = lib.func('llama_model_quantize_params llama_model_quantize_default_params(void)') as CFunc;
    const quantize = lib.func(
      'uint32_t llama_model_quantize(const char *inp, const char *out, const llama_model_quantize_params *params)',
    ) as CFunc;
    quantizeFn = (i, o, q) =>
      quantize(i, o, { ...defaults(), nthread: 1, ftype: q.ftype, allow_requantize: q.allowRequantize ?? false });
  }
  return quantizeFn(input, output, opts);
}
