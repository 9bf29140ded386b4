/**
 * Checks a GGUF model file before anyone loads it:
 * - structure: the header, metadata and tensor infos as the reader parses them
 *   (magic, version, truncation, known types, row lengths that fit their
 *   blocks, alignment, every tensor's bytes inside the file and no two tensors
 *   sharing bytes), reported with the reader's error code;
 * - values: every tensor decoded row by row (engine/quant's dequantizers), so a
 *   NaN or infinity anywhere is found, including in a block's f16 scales (a
 *   non-finite scale makes its weights non-finite: inf*0 is NaN);
 * - for the architectures our engine runs (engine/model/family.ts): the
 *   hyper-parameters readable, and every tensor llama.cpp's loader asks for
 *   present with its shape (each missing or misshapen tensor one problem);
 * - optionally the SHA-256 of the whole file.
 * Problems are collected, one line each, rather than thrown.
 */
import { type ErrorCode, throwIfAborted, toChordError } from '../../shared/errors.ts';
import { sha256Source } from '../gguf/integrity.ts';
import { readGGUF } from '../gguf/reader.ts';
import type { GGUFFile, GGUFTensorInfo } from '../gguf/types.ts';
import type { ByteSource } from '../io/byte-source.ts';
import { FAMILIES, tensorSpecs } from '../model/family.ts';
import { readHParams } from '../model/hparams.ts';
import { canDequantize, dequantizeRow, rowBytes } from '../quant/index.ts';
import { GGMLType } from '../quant/types.ts';

export interface ValidationProblem {
  readonly code: ErrorCode;
  readonly message: string;
  readonly tensor?: string;
}

export interface NonFiniteCount {
  readonly tensor: string;
  readonly nan: number;
  readonly infinite: number;
  /** Index (row-major, ne[0] fastest) of the first non-finite element. */
  readonly firstIndex: number;
}

export interface ValidationReport {
  readonly ok: boolean;
  readonly problems: readonly ValidationProblem[];
  readonly fileSize: number;
  /** Tensors whose every value was decoded and checked. */
  readonly tensorsScanned: number;
  /** Tensors of types we cannot decode (e.g. IQ*, integer types): structure checked, values not. */
  readonly tensorsNotScanned: readonly { tensor: string; type: string }[];
  readonly nonFinite: readonly NonFiniteCount[];
  /** general.architecture, and whether its tensor list was checked (only for architectures we run). */
  readonly architecture?: string;
  readonly tensorListChecked: boolean;
  /** The file's SHA-256, when one was asked for. */
  readonly sha256?: string;
}

export interface ValidateOptions {
  /** Expected SHA-256 of the whole file (hex, any case). */
  readonly sha256?: string;
  /** Skip the NaN/Inf scan (structure and hash only). */
  readonly skipValues?: boolean;
  /** Bytes checked so far (tensor data scanned, then bytes hashed) and the total. */
  readonly onProgress?: (done: number, total: number) => void;
  readonly signal?: AbortSignal;
}

/** Input bytes decoded at once (whole rows; at least one row). */
const SLAB_BYTES = 16 << 20;

/** Counts the NaNs and infinities of one tensor, reading a slab of rows at a time. */
async function scanTensor(
  source: ByteSource,
  t: GGUFTensorInfo,
  onBytes: (n: number) => void,
  signal?: AbortSignal,
): Promise<NonFiniteCount | undefined> {
  const rowLength = t.shape[0];
  const nRows = t.nElements / rowLength;
  const inRow = rowBytes(t.type, rowLength);
  const rowsPerSlab = Math.max(1, Math.floor(SLAB_BYTES / inRow));
  const x = new Float32Array(rowLength);
  let nan = 0;
  let infinite = 0;
  let firstIndex = -1;
  for (let r0 = 0; r0 < nRows; r0 += rowsPerSlab) {
    throwIfAborted(signal);
    const rows = Math.min(rowsPerSlab, nRows - r0);
    const slab = await source.read(t.fileOffset + r0 * inRow, rows * inRow, signal);
    for (let r = 0; r < rows; r++) {
      dequantizeRow(t.type, slab, x, rowLength, r * inRow);
      for (let i = 0; i < rowLength; i++) {
        const v = x[i];
        if (v - v !== 0) {
          // NaN - NaN and Inf - Inf are both NaN: one test for the rare case.
          if (Number.isNaN(v)) nan++;
          else infinite++;
          if (firstIndex < 0) firstIndex = (r0 + r) * rowLength + i;
        }
      }
    }
    onBytes(rows * inRow);
  }
  return nan + infinite === 0 ? undefined : { tensor: t.name, nan, infinite, firstIndex };
}

/**
 * The model-level checks for an architecture we run: hyper-parameters, and the
 * tensors llama.cpp's loader asks for (as our loader checks them, but all listed).
 */
function checkTensorList(file: GGUFFile, problems: ValidationProblem[]): boolean {
  const arch = file.metadata.get('general.architecture')?.value;
  const family = typeof arch === 'string' ? FAMILIES.get(arch) : undefined;
  if (family === undefined) return false;
  let specs: ReturnType<typeof tensorSpecs>;
  const byName = new Map(file.tensors.map((t) => [t.name, t]));
  try {
    specs = tensorSpecs(family, readHParams(file.metadata), (l) => byName.has(`blk.${l}.attn_qkv.weight`));
  } catch (e) {
    const err = toChordError(e);
    problems.push({ code: err.code, message: `${arch} hyper-parameters: ${err.message}` });
    return true;
  }
  for (const { name, shape, required } of specs) {
    const t = byName.get(name);
    if (t === undefined) {
      if (required)
        problems.push({ code: 'MODEL_INVALID', tensor: name, message: `${arch}: tensor '${name}' is missing` });
    } else if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      problems.push({
        code: 'MODEL_INVALID',
        tensor: name,
        message: `${arch}: tensor '${name}' has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`,
      });
    }
  }
  return true;
}

/** Validates the GGUF file read from `source`; never throws for a problem of the file (only for an abort). */
export async function validateGGUF(source: ByteSource, opts: ValidateOptions = {}): Promise<ValidationReport> {
  const problems: ValidationProblem[] = [];
  const nonFinite: NonFiniteCount[] = [];
  const notScanned: { tensor: string; type: string }[] = [];
  let scanned = 0;
  let file: GGUFFile | undefined;
  try {
    file = await readGGUF(source, { signal: opts.signal });
  } catch (e) {
    const err = toChordError(e);
    if (err.code === 'ABORTED') throw err;
    problems.push({ code: err.code, message: err.message.replace(/\s*\n\s*/g, ' ') });
  }

  const tensorListChecked = file !== undefined && checkTensorList(file, problems);

  const expected = opts.sha256?.trim().toLowerCase();
  if (expected !== undefined && !/^[0-9a-f]{64}$/.test(expected)) {
    problems.push({ code: 'INVALID_ARGUMENT', message: `--sha256 '${opts.sha256}' is not 64 hex digits` });
  }
  const tensorBytes = file && !opts.skipValues ? file.tensors.reduce((s, t) => s + t.byteSize, 0) : 0;
  const total = tensorBytes + (expected !== undefined ? source.size : 0);
  let done = 0;
  const progress = (n: number) => {
    done += n;
    opts.onProgress?.(done, total);
  };

  if (file && !opts.skipValues) {
    for (const t of file.tensors) {
      if (!canDequantize(t.type)) {
        notScanned.push({ tensor: t.name, type: GGMLType[t.type] ?? String(t.type) });
        progress(t.byteSize);
        continue;
      }
      try {
        const bad = await scanTensor(source, t, progress, opts.signal);
        scanned++;
        if (bad !== undefined) {
          nonFinite.push(bad);
          problems.push({
            code: 'MODEL_INVALID',
            tensor: t.name,
            message: `tensor '${t.name}' (${GGMLType[t.type]}): ${bad.nan} NaN and ${bad.infinite} infinite values, the first at element ${bad.firstIndex}`,
          });
        }
      } catch (e) {
        const err = toChordError(e);
        if (err.code === 'ABORTED') throw err;
        problems.push({ code: err.code, tensor: t.name, message: `tensor '${t.name}': ${err.message}` });
      }
    }
  }

  let sha256: string | undefined;
  if (expected !== undefined) {
    let hashed = 0;
    sha256 = await sha256Source(source, {
      signal: opts.signal,
      onProgress: (d) => {
        progress(d - hashed);
        hashed = d;
      },
    });
    if (/^[0-9a-f]{64}$/.test(expected) && sha256 !== expected) {
      problems.push({
        code: 'GGUF_CHECKSUM_MISMATCH',
        message: `SHA-256 is ${sha256}, expected ${expected}`,
      });
    }
  }

  return {
    ok: problems.length === 0,
    problems,
    fileSize: source.size,
    tensorsScanned: scanned,
    tensorsNotScanned: notScanned,
    nonFinite,
    architecture:
      typeof file?.metadata.get('general.architecture')?.value === 'string'
        ? (file.metadata.get('general.architecture')?.value as string)
        : undefined,
    tensorListChecked,
    sha256,
  };
}
