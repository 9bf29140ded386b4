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
  /** Compute the types only, write nothing (llama-quantize --dry-run). */
  dryRun?: boolean;
}

// biome-ignore lint/suspicious/noExplicitAny: koffi's function objects are untyped variadic calls
type CFunc = (...args: any[]) => any;

let quantizeFn: ((input: string, output: string, opts: LlamaQuantizeOptions) => number) | undefined;
/** llama.cpp's log text while capturing (a dry run), else undefined: logging is dropped. */
let captured: string[] | undefined;

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
    const silent = koffi.register((_level: number, text: string) => void captured?.push(text), koffi.pointer(logProto));
    (lib.func('void llama_log_set(chord_llama_log *cb, void *user_data)') as CFunc)(silent, null);
    (lib.func('void llama_backend_init(void)') as CFunc)();
    const defaults = lib.func('llama_model_quantize_params llama_model_quantize_default_params(void)') as CFunc;
    const quantize = lib.func(
      'uint32_t llama_model_quantize(const char *inp, const char *out, const llama_model_quantize_params *params)',
    ) as CFunc;
    quantizeFn = (i, o, q) =>
      quantize(i, o, {
        ...defaults(),
        nthread: 1,
        ftype: q.ftype,
        allow_requantize: q.allowRequantize ?? false,
        dry_run: q.dryRun ?? false,
      });
  }
  return quantizeFn(input, output, opts);
}

/**
 * The type llama.cpp would give each tensor, in its order, without quantizing
 * anything: a dry run (`--dry-run`), read from its log. Each tensor logs
 * "[ i/ n] NAME - [SHAPE], type = FROM, size = ... MiB" and, when it would
 * be converted, "-> ... MiB (TO)".
 */
export async function llamaQuantizeTypes(input: string, ftype: number): Promise<string[]> {
  // "NAME TYPE" per tensor, e.g. "blk.0.attn_v.weight Q6_K".
  captured = [];
  try {
    const rc = await llamaQuantize(input, '', { ftype, dryRun: true });
    if (rc !== 0) throw new Error(`llama_model_quantize dry run failed (${rc})`);
    const log = captured.join('');
    const re = /\[\s*\d+\/\s*\d+\] (\S+)\s+- \[[^\]]*\], type =\s*(\w+), size =[^\n]*?(?:\((\w+)\))?\n/g;
    return [...log.matchAll(re)].map((m) => `${m[1]} ${(m[3] ?? m[2]).toUpperCase()}`);
  } finally {
    captured = undefined;
  }
}
