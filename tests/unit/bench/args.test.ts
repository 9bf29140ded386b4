import { describe, expect, it } from 'vitest';
import { ArgsError, parseCompareArgs, RUNTIMES } from '../../bench/args.ts';

describe('bench:compare arguments', () => {
  it('defaults to the small model, 2 threads, prompt 128, generate 64, every runtime', () => {
    const o = parseCompareArgs([]);
    expect(o).toMatchObject({
      model: 'small',
      threads: 2,
      promptTokens: 128,
      genTokens: 64,
      backend: 'auto',
      json: false,
      writeDoc: true,
      chromiumPath: '/usr/bin/chromium',
    });
    expect(o.runtimes).toEqual([...RUNTIMES]);
  });

  it('reads every option', () => {
    const o = parseCompareArgs([
      '--json',
      '--model',
      'tinyllama-q8_0',
      '--threads',
      '4',
      '--prompt-tokens',
      '16',
      '--gen-tokens',
      '8',
      '--runtimes',
      'wllama-browser, chord-node,chord-node',
      '--backend',
      'js',
      '--no-doc',
      '--chromium',
      '/opt/chrome',
      '--timeout',
      '60',
    ]);
    expect(o).toMatchObject({
      model: 'tinyllama-q8_0',
      threads: 4,
      promptTokens: 16,
      genTokens: 8,
      runtimes: ['wllama-browser', 'chord-node'],
      backend: 'js',
      json: true,
      writeDoc: false,
      chromiumPath: '/opt/chrome',
      timeoutS: 60,
    });
  });

  it("takes webgpu as Chord's backend", () => {
    expect(parseCompareArgs(['--backend', 'webgpu']).backend).toBe('webgpu');
  });

  it('takes Chromium from $CHORD_CHROMIUM when --chromium is absent', () => {
    expect(parseCompareArgs([], { CHORD_CHROMIUM: '/x/chromium' }).chromiumPath).toBe('/x/chromium');
  });

  it.each([
    [['--threads', '0']],
    [['--threads', '1.5']],
    [['--gen-tokens', 'many']],
    [['--runtimes', 'chord-node,ollama']],
    [['--runtimes', ',']],
    [['--backend', 'gpu']],
    [['--unknown']],
    [['positional']],
  ])('rejects %j', (argv) => {
    expect(() => parseCompareArgs(argv)).toThrow(ArgsError);
  });
});
