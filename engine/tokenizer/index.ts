/**
 * Tokenizers built from GGUF metadata that give llama.cpp's tokens, id for id:
 * SPM (llama, phi-3, gemma...), byte-level BPE with every pre-tokenizer
 * llama.cpp knows, WPM (BERT) and UGM (T5-style unigram). See vocab.ts for the
 * loading rules, special.ts for special-token parsing, and spm/bpe/wpm/ugm.ts
 * for the algorithms.
 */
import { ChordError } from '../../shared/errors.ts';
import type { GGUFMetadataEntry } from '../gguf/types.ts';
import { BpeTokenizer } from './bpe.ts';
import { cleanSpaces, computePiece } from './pieces.ts';
import { partitionSpecial } from './special.ts';
import { spmTokenize } from './spm.ts';
import { UgmTokenizer } from './ugm.ts';
import { ATTR_CONTROL, ATTR_UNKNOWN, loadVocab, NO_TOKEN, type Vocab, type VocabType } from './vocab.ts';
import { wpmTokenize } from './wpm.ts';

export { SUPPORTED_PRE_TOKENIZERS } from './pre-table.ts';
export type { VocabType as TokenizerModel } from './vocab.ts';

export interface TokenizeOptions {
  /** Add BOS/EOS as the vocab asks (CLS/SEP for WPM), like llama_tokenize's add_special. Default false. */
  addSpecial?: boolean;
  /**
   * Control (and unknown) tokens' texts in the input become those tokens. Default false.
   * User-defined tokens are split out either way, as llama.cpp does.
   */
  parseSpecial?: boolean;
}

export interface Tokenizer {
  readonly model: VocabType;
  readonly vocabSize: number;
  readonly bos?: number;
  readonly eos?: number;
  readonly eot?: number;
  readonly eom?: number;
  readonly unk?: number;
  readonly pad?: number;
  readonly sep?: number;
  readonly cls?: number;
  readonly addBos: boolean;
  readonly addEos: boolean;
  tokenize(text: string, opts?: TokenizeOptions): number[];
  /** Raw bytes, like llama_token_to_piece; special=false (default) hides control and unknown tokens. */
  tokenToPiece(id: number, opts?: { special?: boolean }): Uint8Array;
  /** Like llama_detokenize with remove_special=false, unparse_special=special (default false). */
  detokenize(ids: readonly number[], opts?: { special?: boolean }): string;
  /** End of generation: eos, eot, eom and the other tokens llama.cpp marks EOG. */
  isEog(id: number): boolean;
  isControl(id: number): boolean;
  /** The vocabulary string of a token. */
  tokenText(id: number): string;
  createStreamDecoder(opts?: { special?: boolean }): StreamDecoder;
}

/**
 * Turns a stream of token ids into text pieces (each token's piece, as
 * llama.cpp's token_to_piece gives it); bytes of a UTF-8 sequence split across
 * tokens are held back until the sequence is complete.
 */
export interface StreamDecoder {
  push(id: number): string;
  /** Emits what is still held (an incomplete sequence becomes U+FFFD). */
  flush(): string;
}

/**
 * The tokenizer a GGUF file's metadata describes (a vocab-only file is enough).
 * Throws ChordError TOKENIZER_UNSUPPORTED for a tokenizer model or pre-tokenizer
 * llama.cpp would not know either (or that we do not implement: rwkv, plamo2,
 * hybriddna), TOKENIZER_INVALID for missing or malformed tokenizer metadata.
 */
export function loadTokenizer(metadata: ReadonlyMap<string, GGUFMetadataEntry>): Tokenizer {
  return new GGUFTokenizer(loadVocab(metadata));
}

const SPACE_ESCAPE = '\u2581';

/**
 * llama.cpp tokenizes UTF-8 bytes: a JS string's lone surrogates reach it as
 * U+FFFD (what any UTF-8 encoder makes of them), so they become U+FFFD here too.
 */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
function wellFormed(text: string): string {
  return /[\ud800-\udfff]/.test(text) ? text.replace(LONE_SURROGATE, '\ufffd') : text;
}
const EMPTY = new Uint8Array(0);
const optional = (id: number) => (id === NO_TOKEN ? undefined : id);

class GGUFTokenizer implements Tokenizer {
  readonly model: VocabType;
  readonly vocabSize: number;
  readonly bos?: number;
  readonly eos?: number;
  readonly eot?: number;
  readonly eom?: number;
  readonly unk?: number;
  readonly pad?: number;
  readonly sep?: number;
  readonly cls?: number;
  readonly addBos: boolean;
  readonly addEos: boolean;
  private readonly pieces: (Uint8Array | undefined)[];
  private readonly bpe?: BpeTokenizer;
  private readonly ugm?: UgmTokenizer;

  constructor(private readonly vocab: Vocab) {
    this.model = vocab.type;
    this.vocabSize = vocab.tokens.length;
    this.bos = optional(vocab.bos);
    this.eos = optional(vocab.eos);
    this.eot = optional(vocab.eot);
    this.eom = optional(vocab.eom);
    this.unk = optional(vocab.unk);
    this.pad = optional(vocab.pad);
    this.sep = optional(vocab.sep);
    this.cls = optional(vocab.cls);
    this.addBos = vocab.addBos;
    this.addEos = vocab.addEos;
    this.pieces = new Array(this.vocabSize);
    if (vocab.type === 'bpe') this.bpe = new BpeTokenizer(vocab);
    if (vocab.type === 'ugm') this.ugm = new UgmTokenizer(vocab);
  }

  tokenize(text: string, opts: TokenizeOptions = {}): number[] {
    const v = this.vocab;
    const addSpecial = opts.addSpecial ?? false;
    const fragments = partitionSpecial(v, wellFormed(text), opts.parseSpecial ?? false);
    const out: number[] = [];
    const pushIf = (cond: boolean, id: number) => {
      if (cond && id !== NO_TOKEN) out.push(id);
    };
    switch (v.type) {
      case 'spm': {
        pushIf(addSpecial && v.addBos, v.bos);
        let prevSpecial = true; // the first text gets the space prefix too
        for (const f of fragments) {
          if (typeof f === 'number') {
            out.push(f);
            prevSpecial = true;
            continue;
          }
          const prefixed = v.addSpacePrefix && prevSpecial ? ` ${f}` : f;
          spmTokenize(v, prefixed.replaceAll(' ', SPACE_ESCAPE), out);
          prevSpecial = false;
        }
        pushIf(addSpecial && v.addEos, v.eos);
        break;
      }
      case 'bpe': {
        pushIf(addSpecial && v.addBos, v.bos);
        for (const f of fragments) {
          if (typeof f === 'number') out.push(f);
          else this.bpe!.tokenize(v.escapeWhitespaces ? f.replaceAll(' ', SPACE_ESCAPE) : f, out);
        }
        pushIf(addSpecial && v.addEos, v.eos);
        break;
      }
      case 'wpm': {
        pushIf(addSpecial, v.bos); // [CLS]
        for (const f of fragments) {
          if (typeof f === 'number') out.push(f);
          else wpmTokenize(v, f, out);
        }
        pushIf(addSpecial, v.sep); // [SEP]
        break;
      }
      case 'ugm': {
        pushIf(addSpecial && v.addBos, v.bos);
        for (const f of fragments) {
          if (typeof f === 'number') out.push(f);
          else this.ugm!.tokenize(f, out);
        }
        pushIf(addSpecial && v.addEos, v.eos);
        break;
      }
    }
    return out;
  }

  private checkId(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new ChordError('INVALID_ARGUMENT', `token id ${id} is out of range (vocabulary of ${this.vocabSize})`);
    }
  }

  tokenToPiece(id: number, opts: { special?: boolean } = {}): Uint8Array {
    return this.piece(id, opts.special ?? false).slice(); // a copy: the cached piece stays intact
  }

  /** The cached piece (not to be modified); special=false hides control and unknown tokens. */
  private piece(id: number, special: boolean): Uint8Array {
    this.checkId(id);
    if (!special && this.vocab.attrs[id] & (ATTR_UNKNOWN | ATTR_CONTROL)) return EMPTY;
    let piece = this.pieces[id];
    if (!piece) {
      piece = computePiece(this.vocab, id);
      this.pieces[id] = piece;
    }
    return piece;
  }

  detokenize(ids: readonly number[], opts: { special?: boolean } = {}): string {
    const bytes: number[] = [];
    let removeSpace = this.vocab.addSpacePrefix; // the space the tokenizer added in front
    for (const id of ids) {
      const piece = this.piece(id, opts.special ?? false);
      const skip = removeSpace && piece[0] === 0x20 ? 1 : 0;
      removeSpace = false;
      for (let i = skip; i < piece.length; i++) bytes.push(piece[i]);
    }
    const length = this.vocab.cleanSpaces ? cleanSpaces(bytes) : bytes.length;
    return new TextDecoder('utf-8', { ignoreBOM: true }).decode(Uint8Array.from(bytes.slice(0, length)));
  }

  isEog(id: number): boolean {
    return this.vocab.eogIds.has(id);
  }

  isControl(id: number): boolean {
    return id >= 0 && id < this.vocabSize && (this.vocab.attrs[id] & ATTR_CONTROL) !== 0;
  }

  tokenText(id: number): string {
    this.checkId(id);
    return this.vocab.tokens[id];
  }

  createStreamDecoder(opts: { special?: boolean } = {}): StreamDecoder {
    const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
    return {
      push: (id) => decoder.decode(this.piece(id, opts.special ?? false), { stream: true }),
      flush: () => decoder.decode(),
    };
  }
}
