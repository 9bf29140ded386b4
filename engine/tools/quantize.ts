/**
 * Quantizes a GGUF model the way llama-quantize does (no importance matrix):
 * the same type for every tensor (quantize-plan.ts), the same reference
 * quantizers (engine/quant, byte-identical with ggml's quantize_row_*_ref), the
 * same metadata (everything copied, general.quantization_version and
 * general.file_type set at the end, split keys dropped) and the same tensor
 * order, so for the same input the output file is the same.
 *
 * Streaming: tensors are read a slab of rows at a time from a ByteSource and
 * written one by one through writeGGUFStream; at most one output tensor and one
 * input slab are in memory. Each quantized tensor's error against its input is
 * measured on the way (RMSE of the dequantized output).
 */
import { ChordError, throwIfAborted } from '../../shared/errors.ts';
import { readGGUF } from '../gguf/reader.ts';
import type { GGUFFile, GGUFMetadataEntry, GGUFTensorInfo } from '../gguf/types.ts';
import { kv, writeGGUFStream } from '../gguf/writer.ts';
import type { ByteSource } from '../io/byte-source.ts';
import { canDequantize, dequantizeRow, quantizeRowInto, rowBytes } from '../quant/index.ts';
import { GGMLType, typeTraits } from '../quant/types.ts';
import {
  FILE_TYPES,
  type FileTypeName,
  type KeepRule,
  parseFileType,
  planQuantization,
  type TensorPlan,
  type TypeReason,
} from './quantize-plan.ts';

/** ggml.h GGML_QNT_VERSION: the version of the quantized block layouts. */
export const GGML_QNT_VERSION = 2;

/** Keys llama_model_quantize drops (one output file, never split). */
const SPLIT_KEYS = ['split.no', 'split.count', 'split.tensors.count'];

/** Input bytes read at once (whole rows; at least one row). */
const SLAB_BYTES = 16 << 20;

export interface QuantizeOptions {
  /** A file type name: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K_S/M/L, Q4_K_S/M, Q5_K_S/M, Q6_K, F16, BF16, F32 (Q3_K, Q4_K, Q5_K mean _M). */
  readonly type: string;
  readonly keep?: readonly KeepRule[];
  /** Allow quantizing tensors that are already quantized (llama-quantize --allow-requantize); quality suffers. */
  readonly allowRequantize?: boolean;
  readonly onProgress?: (p: QuantizeProgress) => void;
  /** Within a tensor being converted: rows done of its rows, after each slab (for big tensors). */
  readonly onTensorRows?: (name: string, done: number, total: number) => void;
  /** Warnings (requantized tensors, fallbacks) as they happen. */
  readonly onWarning?: (message: string) => void;
  readonly signal?: AbortSignal;
}

export interface QuantizeProgress {
  /** 1-based. */
  readonly index: number;
  readonly count: number;
  readonly tensor: TensorReport;
  /** Tensor data bytes produced so far, and in all (headers and padding not counted). */
  readonly bytesWritten: number;
  readonly totalBytes: number;
}

export interface TensorReport {
  readonly name: string;
  readonly shape: readonly number[];
  readonly from: string;
  readonly to: string;
  readonly reason: TypeReason;
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** sqrt(mean((out - in)^2)) over the tensor; 0 for a tensor copied as it is. */
  readonly rmse: number;
  /** rmse / sqrt(mean(in^2)); 0 when the input is all zero. */
  readonly relativeRmse: number;
  /** max |out - in|. */
  readonly maxAbsError: number;
}

export interface QuantizeReport {
  readonly type: FileTypeName;
  readonly fileType: number;
  readonly tensors: readonly TensorReport[];
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly fallbacks: number;
  readonly requantized: number;
}

const typeName = (t: GGMLType) => GGMLType[t] ?? String(t);
const isFloatType = (t: GGMLType) => t === GGMLType.F32 || t === GGMLType.F16 || t === GGMLType.BF16;

/** The output metadata: the input's in order, split keys dropped, then the two quantization keys. */
function outputMetadata(file: GGUFFile, fileType: number): Array<[string, GGUFMetadataEntry]> {
  const out: Array<[string, GGUFMetadataEntry]> = [];
  for (const [k, e] of file.metadata) {
    if (k === 'general.quantization_version' || k === 'general.file_type' || SPLIT_KEYS.includes(k)) continue;
    out.push([k, e]);
  }
  out.push(['general.quantization_version', kv.u32(GGML_QNT_VERSION)]);
  out.push(['general.file_type', kv.u32(fileType)]);
  return out;
}

/** Refuses what we cannot do before writing anything. */
function checkPlan(file: GGUFFile, plans: readonly TensorPlan[], opts: QuantizeOptions): void {
  const splits = file.metadata.get('split.count')?.value;
  if (splits !== undefined && Number(splits) > 1) {
    throw new ChordError('INVALID_ARGUMENT', `the input is one of ${splits} split files: merge them first`);
  }
  for (const p of plans) {
    if (p.from === p.to) continue;
    if (!canDequantize(p.from)) {
      throw new ChordError(
        'UNSUPPORTED_QUANT_TYPE',
        `tensor '${p.tensor.name}' is ${typeName(p.from)}, which we cannot read to requantize`,
        { tensor: p.tensor.name, type: p.from },
      );
    }
    if (!isFloatType(p.from) && !opts.allowRequantize) {
      throw new ChordError(
        'INVALID_ARGUMENT',
        `tensor '${p.tensor.name}' is already ${typeName(p.from)}: requantizing to ${typeName(p.to)} loses quality; allow it explicitly (--allow-requantize) or start from an F32/F16/BF16 model`,
        { tensor: p.tensor.name, from: p.from, to: p.to },
      );
    }
  }
}

/** Running error sums of one tensor. */
class ErrorMeter {
  private sse = 0;
  private ssx = 0;
  private n = 0;
  maxAbs = 0;
  add(x: Float32Array, y: Float32Array, count: number): void {
    for (let i = 0; i < count; i++) {
      const d = y[i] - x[i];
      this.sse += d * d;
      this.ssx += x[i] * x[i];
      const a = Math.abs(d);
      if (a > this.maxAbs) this.maxAbs = a;
    }
    this.n += count;
  }
  get rmse(): number {
    return this.n === 0 ? 0 : Math.sqrt(this.sse / this.n);
  }
  get relative(): number {
    return this.ssx === 0 ? 0 : Math.sqrt(this.sse / this.ssx);
  }
}

/**
 * Converts one tensor: reads slabs of rows, decodes them to f32, encodes them
 * as `to`, decodes the result again to measure the error. Non-finite values
 * (in the input, or produced by the encoding, e.g. an f16 scale overflowing)
 * are refused, as llama.cpp's row validation does.
 */
async function convertTensor(
  source: ByteSource,
  t: GGUFTensorInfo,
  from: GGMLType,
  to: GGMLType,
  meter: ErrorMeter,
  opts: Pick<QuantizeOptions, 'signal' | 'onTensorRows'>,
): Promise<Uint8Array> {
  const { signal } = opts;
  const rowLength = t.shape[0];
  const nRows = t.nElements / rowLength;
  const inRow = rowBytes(from, rowLength);
  const outRow = rowBytes(to, rowLength);
  const out = new Uint8Array(nRows * outRow);
  const rowsPerSlab = Math.max(1, Math.floor(SLAB_BYTES / Math.max(inRow, rowLength * 4)));
  const x = new Float32Array(rowLength);
  const y = new Float32Array(rowLength);
  for (let r0 = 0; r0 < nRows; r0 += rowsPerSlab) {
    throwIfAborted(signal);
    const rows = Math.min(rowsPerSlab, nRows - r0);
    const slab = await source.read(t.fileOffset + r0 * inRow, rows * inRow, signal);
    for (let r = 0; r < rows; r++) {
      dequantizeRow(from, slab, x, rowLength, r * inRow);
      const o = (r0 + r) * outRow;
      quantizeRowInto(to, x, 0, rowLength, out, o);
      dequantizeRow(to, out, y, rowLength, o);
      for (let i = 0; i < rowLength; i++) {
        if (!Number.isFinite(y[i]) || !Number.isFinite(x[i])) {
          const where = Number.isFinite(x[i]) ? `becomes ${y[i]} in ${typeName(to)}` : `is ${x[i]} in the input`;
          throw new ChordError('MODEL_INVALID', `tensor '${t.name}': element ${(r0 + r) * rowLength + i} ${where}`, {
            tensor: t.name,
          });
        }
      }
      meter.add(x, y, rowLength);
    }
    opts.onTensorRows?.(t.name, r0 + rows, nRows);
  }
  return out;
}

/**
 * Quantizes the GGUF model read from `source` into `sink` (the bytes of the new
 * file, in order). Resolves to the report: each tensor's types, sizes and error.
 */
export async function quantizeGGUF(
  source: ByteSource,
  sink: (chunk: Uint8Array) => void | Promise<void>,
  opts: QuantizeOptions,
): Promise<QuantizeReport> {
  const fileTypeName = parseFileType(opts.type);
  const { ftype } = FILE_TYPES[fileTypeName];
  const file = await readGGUF(source, { signal: opts.signal });
  const plan = planQuantization(file, fileTypeName, { keep: opts.keep });
  checkPlan(file, plan.tensors, opts);

  const reports: TensorReport[] = [];
  let requantized = 0;
  let bytesWritten = 0;
  const outputBytes = (p: TensorPlan) => rowBytes(p.to, p.tensor.shape[0]) * (p.tensor.nElements / p.tensor.shape[0]);
  const totalBytes = plan.tensors.reduce((s, p) => s + outputBytes(p), 0);
  const tensors = plan.tensors.map((p, index) => ({
    name: p.tensor.name,
    shape: p.tensor.shape,
    type: p.to,
    data: async (): Promise<Uint8Array> => {
      const t = p.tensor;
      const meter = new ErrorMeter();
      let data: Uint8Array;
      if (p.from === p.to) {
        data = await source.read(t.fileOffset, t.byteSize, opts.signal);
      } else {
        if (!isFloatType(p.from)) {
          requantized++;
          opts.onWarning?.(`requantizing ${t.name} from ${typeName(p.from)} to ${typeName(p.to)}`);
        }
        data = await convertTensor(source, t, p.from, p.to, meter, opts);
      }
      const report: TensorReport = {
        name: t.name,
        shape: t.shape,
        from: typeName(p.from),
        to: typeName(p.to),
        reason: p.reason,
        bytesIn: t.byteSize,
        bytesOut: data.length,
        rmse: meter.rmse,
        relativeRmse: meter.relative,
        maxAbsError: meter.maxAbs,
      };
      reports.push(report);
      if (p.reason === 'fallback' && p.wanted !== undefined) {
        const blocks = `${typeName(p.wanted)} blocks of ${typeTraits(p.wanted)?.blockSize}`;
        opts.onWarning?.(`${t.name}: rows of ${t.shape[0]} do not fit ${blocks}, using ${typeName(p.to)}`);
      }
      bytesWritten += data.length;
      opts.onProgress?.({ index: index + 1, count: plan.tensors.length, tensor: report, bytesWritten, totalBytes });
      return data;
    },
  }));
  await writeGGUFStream({ version: 3, metadata: outputMetadata(file, ftype), tensors }, async (chunk) => {
    throwIfAborted(opts.signal);
    await sink(chunk);
  });
  return {
    type: fileTypeName,
    fileType: ftype,
    tensors: reports,
    bytesIn: plan.tensors.reduce((s, p) => s + p.tensor.byteSize, 0),
    bytesOut: reports.reduce((s, r) => s + r.bytesOut, 0),
    fallbacks: plan.fallbacks,
    requantized,
  };
}
