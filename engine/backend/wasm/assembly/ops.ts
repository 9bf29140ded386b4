// The light ops as commands of a batch (index.ts's command loop): each runs
// whole, as one chunk, on whichever thread takes it, except SwiGLU and the
// activations' preparation, which are cut into chunks for the threads to share
// (they are the longest: a decode step waits on them). Word layouts (i32 words
// after the kind; f64 and f32 arguments as their bits) are the JS side's
// (engine/backend/wasm/index.ts, the CMD_* kinds).
import { kvStore } from './attention';
import { addBias, addRows, geglu, gelu, scaleRows, swigluChunk } from './elementwise';
import { layerNorm, rmsNorm } from './norms';
import { rope } from './rope';

export const CMD_RMS_NORM: i32 = 3;
export const CMD_LAYER_NORM: i32 = 4;
export const CMD_ROPE: i32 = 5;
export const CMD_SWIGLU: i32 = 6;
export const CMD_GELU: i32 = 7;
export const CMD_GEGLU: i32 = 8;
export const CMD_ADD: i32 = 9;
export const CMD_ADD_BIAS: i32 = 10;
export const CMD_SCALE: i32 = 11;
export const CMD_PREPARE: i32 = 12;
export const CMD_KV_STORE: i32 = 13;

function word(p: usize, i: i32): i32 {
  return load<i32>(p + ((<usize>i) << 2));
}

function addr(p: usize, i: i32): usize {
  return <usize>load<u32>(p + ((<usize>i) << 2));
}

/** Runs chunk `rem` of `chunks` of the light-op command at p; `prepare` is index.ts's prepareChunk (kept there with the formats). */
export function runLightOp(
  p: usize,
  rem: i32,
  chunks: i32,
  prepare: (type: i32, x: usize, n: i32, rows: i32, dst: usize, rem: i32, chunks: i32) => void,
): void {
  switch (word(p, 0)) {
    case CMD_RMS_NORM:
      rmsNorm(addr(p, 1), addr(p, 2), word(p, 3), word(p, 4), load<f64>(p, 24), addr(p, 5));
      break;
    case CMD_LAYER_NORM:
      layerNorm(addr(p, 1), addr(p, 2), addr(p, 3), word(p, 4), word(p, 5), load<f64>(p, 32), addr(p, 6));
      break;
    case CMD_ROPE:
      rope(addr(p, 1), word(p, 2), word(p, 3), word(p, 4), word(p, 5), word(p, 6), word(p, 7) !== 0, addr(p, 8));
      break;
    case CMD_SWIGLU:
      swigluChunk(addr(p, 1), addr(p, 2), word(p, 3), word(p, 4), rem, chunks);
      break;
    case CMD_GELU:
      gelu(addr(p, 1), word(p, 2), addr(p, 3));
      break;
    case CMD_GEGLU:
      geglu(addr(p, 1), addr(p, 2), word(p, 3), addr(p, 4));
      break;
    case CMD_ADD:
      addRows(addr(p, 1), addr(p, 2), word(p, 3));
      break;
    case CMD_ADD_BIAS:
      addBias(addr(p, 1), addr(p, 2), word(p, 3), word(p, 4));
      break;
    case CMD_SCALE:
      scaleRows(addr(p, 1), word(p, 2), load<f32>(p, 12));
      break;
    case CMD_PREPARE:
      prepare(word(p, 1), addr(p, 2), word(p, 3), word(p, 4), addr(p, 5), rem, chunks);
      break;
    case CMD_KV_STORE:
      kvStore(addr(p, 1), addr(p, 2), addr(p, 3), addr(p, 4), word(p, 5), word(p, 6), addr(p, 7), word(p, 8) !== 0);
      break;
  }
}
