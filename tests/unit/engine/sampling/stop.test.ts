import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { StopMatcher } from '../../../../engine/sampling/stop.ts';

/** Feeds the pieces; returns everything emitted (plus the flush when no stop hit) and whether it stopped. */
function run(stops: string[], pieces: string[]): { text: string; stopped: boolean; emits: string[] } {
  const m = new StopMatcher(stops);
  const emits: string[] = [];
  let stopped = false;
  for (const p of pieces) {
    const r = m.push(p);
    emits.push(r.emit);
    if (r.stopped) {
      stopped = true;
      break;
    }
  }
  const tail = m.flush();
  if (tail) emits.push(tail);
  return { text: emits.join(''), stopped, emits };
}

/**
 * The definition, recomputed from scratch: after each piece, if the text so far
 * contains a stop string, the output is that text up to the earliest one. (A
 * stream stops as soon as any stop completes, so a long stop that began earlier
 * loses to a short one that completed first.)
 */
function expectedOutput(stops: string[], pieces: string[]): { text: string; stopped: boolean } {
  let soFar = '';
  for (const p of pieces) {
    soFar += p;
    let cut = -1;
    for (const s of stops) {
      const i = s ? soFar.indexOf(s) : -1;
      if (i >= 0 && (cut < 0 || i < cut)) cut = i;
    }
    if (cut >= 0) return { text: soFar.slice(0, cut), stopped: true };
  }
  return { text: soFar, stopped: false };
}

describe('StopMatcher', () => {
  it('emits text before the stop string and nothing after it', () => {
    const m = new StopMatcher(['</s>']);
    expect(m.push('Hello</s>world')).toEqual({ emit: 'Hello', stopped: true });
    expect(m.matchedStop).toBe('</s>');
    expect(m.push('more')).toEqual({ emit: '', stopped: true });
    expect(m.flush()).toBe('');
  });

  it('finds a stop split across many single-character pieces', () => {
    const stop = '<|im_end|>';
    const m = new StopMatcher([stop]);
    expect(m.push('Hi')).toEqual({ emit: 'Hi', stopped: false });
    const chars = [...stop];
    for (const ch of chars.slice(0, -1)) expect(m.push(ch)).toEqual({ emit: '', stopped: false });
    expect(m.push(chars[chars.length - 1])).toEqual({ emit: '', stopped: true });
  });

  it('releases held text once it cannot be a stop any more', () => {
    const m = new StopMatcher(['END']);
    expect(m.push('The EN')).toEqual({ emit: 'The ', stopped: false });
    expect(m.push('ough')).toEqual({ emit: 'ENough', stopped: false });
    expect(m.push(' E')).toEqual({ emit: ' ', stopped: false });
    expect(m.flush()).toBe('E');
  });

  it('handles overlapping prefixes (abab in abaabab)', () => {
    const m = new StopMatcher(['abab']);
    expect(m.push('aba')).toEqual({ emit: '', stopped: false });
    expect(m.push('a')).toEqual({ emit: 'aba', stopped: false });
    expect(m.push('bab')).toEqual({ emit: '', stopped: true });
    expect(run(['abab'], ['ab', 'aab', 'ab']).text).toBe('aba');
  });

  it('stops at the earliest of several stop strings', () => {
    expect(run(['world', 'lo'], ['hello world'])).toMatchObject({ text: 'hel', stopped: true });
    expect(run(['world', 'lo'], ['hel', 'l', 'o w', 'orld'])).toMatchObject({ text: 'hel', stopped: true });
    // a shorter stop completing first wins over a longer one that began earlier
    expect(run(['abcd', 'bc'], ['a', 'b', 'c', 'd'])).toMatchObject({ text: 'a', stopped: true });
    const m = new StopMatcher(['\n', '\n\n']);
    m.push('a\n\nb');
    expect(m.matchedStop).toBe('\n\n');
  });

  it('works with multi-byte characters and surrogate pairs', () => {
    expect(run(['。'], ['你好', '世界。', '再见'])).toMatchObject({ text: '你好世界', stopped: true });
    // the stop is an emoji arriving as two separate UTF-16 halves
    expect(run(['🛑'], ['go ', '\uD83D', '\uDED1', ' no'])).toMatchObject({ text: 'go ', stopped: true });
    // a different emoji sharing the high surrogate is released whole, never half
    const m = new StopMatcher(['🛑']);
    expect(m.push('\uD83D')).toEqual({ emit: '', stopped: false });
    expect(m.push('\uDE00!')).toEqual({ emit: '😀!', stopped: false });
    // with no stop that could match, a dangling high surrogate still waits for its pair
    const n = new StopMatcher(['x']);
    expect(n.push('a\uD83D')).toEqual({ emit: 'a', stopped: false });
    expect(n.push('\uDE00')).toEqual({ emit: '😀', stopped: false });
  });

  it('passes everything through without stops (empty strings ignored)', () => {
    const m = new StopMatcher(['']);
    expect(m.push('abc')).toEqual({ emit: 'abc', stopped: false });
    expect(m.flush()).toBe('');
  });

  it('whatever the split, emits exactly the text before the first completed stop', () => {
    const alphabet = fc.constantFrom('a', 'b', 'c', '<', '>', 'é', '😀');
    const str = (max: number) => fc.array(alphabet, { maxLength: max }).map((a) => a.join(''));
    fc.assert(
      fc.property(
        fc.array(
          str(4).filter((s) => s.length > 0),
          { minLength: 1, maxLength: 3 },
        ),
        str(40),
        fc.array(fc.nat(), { maxLength: 10 }),
        (stops, text, cuts) => {
          // split at code point boundaries, as a token decoder delivers text
          const cps = [...text];
          const points = [...new Set(cuts.map((c) => c % (cps.length + 1)))].sort((a, b) => a - b);
          const pieces: string[] = [];
          let prev = 0;
          for (const p of [...points, cps.length]) {
            pieces.push(cps.slice(prev, p).join(''));
            prev = p;
          }
          const got = run(stops, pieces);
          expect({ text: got.text, stopped: got.stopped }).toEqual(expectedOutput(stops, pieces));
        },
      ),
      { numRuns: 2000, seed: 42 },
    );
  });
});
