/**
 * Chat templates: the Jinja program a GGUF carries in `tokenizer.chat_template`
 * that turns a list of messages into the prompt text the model was trained on.
 *
 * Rendered with @huggingface/jinja. We set up the globals ourselves, as
 * transformers' `apply_chat_template` and llama.cpp's minja provide them:
 * `messages`, `bos_token`, `eos_token`, `add_generation_prompt`,
 * `raise_exception(msg)`, `strftime_now(fmt)`, `range`, `namespace` (built in),
 * `true/false/none` in both spellings, and `tools = none` (as transformers passes
 * when there are no tools). `documents`, `enable_thinking` and the like stay
 * undefined unless passed through `extra`. Python's `str.format` is added
 * (interpreter.ts).
 *
 * Each distinct template string is parsed once and cached.
 */
import { Environment, parse, tokenize } from '@huggingface/jinja';
import { ChordError } from '../../shared/errors.ts';
import { ChatInterpreter } from './interpreter.ts';
import { strftime } from './strftime.ts';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | string;
  content: string;
}

export interface ChatTemplateOptions {
  bosToken?: string;
  eosToken?: string;
  /** end with the opening of an assistant turn (default false, as in transformers) */
  addGenerationPrompt?: boolean;
  /** more template variables (e.g. `tools`, `enable_thinking`, `date_string`); they override ours */
  extra?: Record<string, unknown>;
  /** the clock `strftime_now` reads (default: now, local time, as Python's datetime.now()) */
  now?: Date;
}

type Program = ReturnType<typeof parse>;

const PARSE_CACHE_LIMIT = 32;
const parsed = new Map<string, Program>();

/** Parses (once) and caches a template; Map order makes this a small LRU. */
function compile(template: string): Program {
  const hit = parsed.get(template);
  if (hit) {
    parsed.delete(template);
    parsed.set(template, hit);
    return hit;
  }
  let program: Program;
  try {
    // transformers renders chat templates with trim_blocks and lstrip_blocks on
    program = parse(tokenize(template, { lstrip_blocks: true, trim_blocks: true }));
  } catch (e) {
    throw new ChordError('TEMPLATE_ERROR', `chat template does not parse: ${(e as Error).message}`, {
      phase: 'parse',
    });
  }
  parsed.set(template, program);
  if (parsed.size > PARSE_CACHE_LIMIT) parsed.delete(parsed.keys().next().value as string);
  return program;
}

/** Thrown by the template's own `raise_exception`, told apart from engine failures. */
class TemplateRaised extends Error {}

/** Python's range(stop) / range(start, stop[, step]). */
function range(a: number, b?: number, step = 1): number[] {
  const [start, stop] = b === undefined ? [0, a] : [a, b];
  if (step === 0) throw new Error('range() step must not be zero');
  const out: number[] = [];
  for (let i = start; step > 0 ? i < stop : i > stop; i += step) out.push(i);
  return out;
}

/**
 * Renders `template` for `messages`. Any failure, including the template's own
 * `raise_exception`, is a ChordError('TEMPLATE_ERROR'); details.raised holds the
 * template's message when it raised one.
 */
export function renderChatTemplate(template: string, messages: ChatMessage[], opts: ChatTemplateOptions = {}): string {
  const program = compile(template);
  const now = opts.now;
  const globals: Record<string, unknown> = {
    true: true,
    false: false,
    none: null,
    True: true,
    False: false,
    None: null,
    range,
    raise_exception: (message: unknown) => {
      throw new TemplateRaised(String(message));
    },
    strftime_now: (format: unknown) => strftime(now ?? new Date(), String(format)),
    messages,
    bos_token: opts.bosToken ?? '',
    eos_token: opts.eosToken ?? '',
    add_generation_prompt: opts.addGenerationPrompt ?? false,
    // transformers passes tools=None when there are none; templates are written against that
    // (`tools is not none and tools|length > 0`), and this Jinja's Undefined has no length
    tools: null,
    ...opts.extra,
  };
  const env = new Environment();
  for (const [name, value] of Object.entries(globals)) env.set(name, value);
  try {
    return new ChatInterpreter(env).run(program).value as string;
  } catch (e) {
    if (e instanceof TemplateRaised) {
      throw new ChordError('TEMPLATE_ERROR', `chat template raised: ${e.message}`, {
        phase: 'render',
        raised: e.message,
      });
    }
    throw new ChordError('TEMPLATE_ERROR', `chat template failed: ${(e as Error)?.message ?? String(e)}`, {
      phase: 'render',
    });
  }
}

function roleLabel(role: string): string {
  return role.length === 0 ? role : role[0].toUpperCase() + role.slice(1);
}

/**
 * The format for models without a chat template: a plain transcript, one
 * block per message, blocks separated by a blank line, each block
 * "<Role>: <content>" with the role capitalized; with addGenerationPrompt it
 * ends with "Assistant:" (no trailing space) for the model to continue:
 *
 *   System: You are terse.
 *
 *   User: Hi!
 *
 *   Assistant:
 *
 * No special tokens are inserted (BOS, if any, is the tokenizer's business).
 * llama.cpp falls back to ChatML instead, but ChatML's markers mean nothing to
 * a model that was not trained on them, while a transcript reads as text.
 */
export function fallbackChatFormat(messages: ChatMessage[], opts: ChatTemplateOptions = {}): string {
  const blocks = messages.map((m) => `${roleLabel(m.role)}: ${m.content}`);
  if (opts.addGenerationPrompt) blocks.push('Assistant:');
  return blocks.join('\n\n');
}
