import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  EngineRequestSchema,
  PageRequestSchema,
  PanelRequestSchema,
  parseMessage,
  requestIdOf,
  StreamEventSchema,
} from '../../../shared/protocol.ts';

describe('protocol', () => {
  afterEach(() => vi.restoreAllMocks());

  it('accepts a page generate request with prompt text or chat messages', () => {
    expect(
      PageRequestSchema.parse({
        type: 'generate',
        id: 'p1',
        input: 'Once upon a time',
        options: { maxTokens: 30, temperature: 0, stop: ['\n'] },
      }),
    ).toMatchObject({ options: { maxTokens: 30, temperature: 0 } });
    const chat = PageRequestSchema.parse({ type: 'generate', id: 'p2', input: [{ role: 'user', content: 'hi' }] });
    expect(chat).toMatchObject({ options: {} }); // options default to none
  });

  it.each([
    ['unknown type', { type: 'eval', id: 'x', code: '1' }],
    ['no id', { type: 'models' }],
    ['negative maxTokens', { type: 'generate', id: 'x', input: 'a', options: { maxTokens: -1 } }],
    ['fractional maxTokens', { type: 'generate', id: 'x', input: 'a', options: { maxTokens: 1.5 } }],
    ['topP above 1', { type: 'generate', id: 'x', input: 'a', options: { topP: 2 } }],
    ['unknown option', { type: 'generate', id: 'x', input: 'a', options: { backend: 'js' } }],
    ['empty chat', { type: 'generate', id: 'x', input: [] }],
    ['message without content', { type: 'generate', id: 'x', input: [{ role: 'user' }] }],
    ['not an object', 'generate'],
  ])('drops a malformed page request (%s) with a logged BAD_MESSAGE', (_, raw) => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    expect(parseMessage(PageRequestSchema, raw, 'test')).toBeUndefined();
    expect(warn).toHaveBeenCalledWith('BAD_MESSAGE', expect.stringContaining('test'), expect.anything());
  });

  it('keeps model management away from pages', () => {
    const install = { type: 'install', id: 'i', url: 'https://example.org/m.gguf' };
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    expect(parseMessage(PageRequestSchema, install, 'page')).toBeUndefined();
    expect(warn).toHaveBeenCalledOnce();
    expect(PanelRequestSchema.parse(install)).toEqual(install);
    expect(EngineRequestSchema.parse(install)).toEqual(install);
    expect(PanelRequestSchema.safeParse({ ...install, url: 'file:///etc/passwd' }).success).toBe(false);
  });

  it('parses every stream event and rejects unknown error codes', () => {
    const timings = { prefillMs: 1, decodeMs: 2, prefillTokPerS: 3, decodeTokPerS: 4 };
    const events = [
      { type: 'chunk', id: 'a', text: 'x' },
      { type: 'progress', id: 'a', progress: { phase: 'load', bytesDone: 1, size: 2 } },
      {
        type: 'done',
        id: 'a',
        result: { text: 'x', finishReason: 'length', usage: { promptTokens: 1, completionTokens: 1 }, timings },
      },
      { type: 'result', id: 'a', value: [1, 2] },
      { type: 'error', id: 'a', error: { code: 'NOT_ALLOWED', message: 'no' } },
    ];
    for (const e of events) expect(StreamEventSchema.parse(e)).toEqual(e);
    expect(StreamEventSchema.safeParse({ type: 'error', id: 'a', error: { code: 'NOPE', message: '' } }).success).toBe(
      false,
    );
  });

  it('finds the id of a malformed request so the caller can be told', () => {
    expect(requestIdOf({ id: 'r1', type: 'bogus' })).toBe('r1');
    expect(requestIdOf({ id: 3 })).toBeUndefined();
    expect(requestIdOf(null)).toBeUndefined();
    expect(requestIdOf({ id: 'x'.repeat(65) })).toBeUndefined();
  });
});
