/**
 * Stop strings over streamed text.
 *
 * Generated text arrives in pieces (one decoded token at a time). A stop string
 * may straddle pieces, so text that could still be the start of a stop string
 * is held back until the next piece shows whether it is; the stop string itself
 * and everything after it are never emitted.
 *
 * Invariant: the held-back text is the longest suffix of everything seen that
 * is a proper prefix of some stop string (plus, at most, a dangling UTF-16 high
 * surrogate whose pair has not arrived yet). Any stop occurrence that has begun
 * therefore starts inside the held text, never inside what was emitted.
 */

export interface StopPush {
  /** text that is safe to show now */
  emit: string;
  /** a stop string was found: generation should end, nothing more will be emitted */
  stopped: boolean;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

export class StopMatcher {
  private readonly stops: string[];
  private held = '';
  private done = false;
  /** the stop string that ended the stream, once one has */
  matchedStop: string | undefined;

  /** Empty stop strings are ignored (they would stop before the first character). */
  constructor(stops: readonly string[]) {
    this.stops = [...new Set(stops.filter((s) => s.length > 0))];
  }

  get stopped(): boolean {
    return this.done;
  }

  push(text: string): StopPush {
    if (this.done) return { emit: '', stopped: true };
    const buf = this.held + text;

    // earliest stop occurrence; at equal positions the longest stop is reported
    let at = -1;
    let match = '';
    for (const stop of this.stops) {
      const i = buf.indexOf(stop);
      if (i >= 0 && (at < 0 || i < at || (i === at && stop.length > match.length))) {
        at = i;
        match = stop;
      }
    }
    if (at >= 0) {
      this.done = true;
      this.matchedStop = match;
      this.held = '';
      return { emit: buf.slice(0, at), stopped: true };
    }

    let keep = this.partialStopLength(buf);
    // never split a surrogate pair: hold a trailing high surrogate until its partner arrives
    if (keep === 0 && buf.length > 0 && isHighSurrogate(buf.charCodeAt(buf.length - 1))) keep = 1;
    this.held = buf.slice(buf.length - keep);
    return { emit: buf.slice(0, buf.length - keep), stopped: false };
  }

  /** End of stream without a stop: releases what was held back. */
  flush(): string {
    const rest = this.held;
    this.held = '';
    return this.done ? '' : rest;
  }

  /** Length of the longest suffix of buf that is a proper prefix of a stop string. */
  private partialStopLength(buf: string): number {
    let best = 0;
    for (const stop of this.stops) {
      const max = Math.min(stop.length - 1, buf.length);
      for (let len = max; len > best; len--) {
        if (buf.endsWith(stop.slice(0, len))) {
          best = len;
          break;
        }
      }
    }
    return best;
  }
}
