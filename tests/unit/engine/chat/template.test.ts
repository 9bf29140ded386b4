/**
 * Chat templates from llama.cpp's test data (../shared/fixtures/templates), and
 * exact prompts for well-known models written by hand from their documented
 * prompt formats (model cards / vendor docs), not from our output.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type ChatMessage, fallbackChatFormat, renderChatTemplate } from '../../../../engine/chat/template.ts';
import { isChordError } from '../../../../shared/errors.ts';
import { fixture } from '../../../helpers/fixtures.ts';

const templatesDir = fixture('templates');
const readTemplate = (name: string) => readFileSync(join(templatesDir!, name), 'utf8');

const SYSTEM = 'You are a helpful assistant.';
const conversation: ChatMessage[] = [
  { role: 'system', content: SYSTEM },
  { role: 'user', content: 'Hello there!' },
  { role: 'assistant', content: 'Hi! How can I help?' },
  { role: 'user', content: 'Tell me a joke.' },
];
const withoutSystem = conversation.slice(1);
const JULY_26_2024 = new Date(2024, 6, 26, 12, 0, 0);

/** Renders, returning the ChordError instead of throwing it. */
function tryRender(template: string, messages: ChatMessage[], extra?: Record<string, unknown>) {
  try {
    return {
      text: renderChatTemplate(template, messages, {
        bosToken: '<s>',
        eosToken: '</s>',
        addGenerationPrompt: true,
        now: JULY_26_2024,
        extra,
      }),
    };
  } catch (e) {
    if (!isChordError(e)) throw e;
    return { error: e };
  }
}

const weatherTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Get the current weather in a city',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string', description: 'The city name' } },
      required: ['city'],
    },
  },
};

/**
 * Templates that cannot render the plain system+user+assistant+user chat, and why.
 * Each is still rendered, the way it has to be.
 */
const EXCEPTIONS: Record<string, { why: string; messages?: ChatMessage[]; extra?: Record<string, unknown> }> = {
  'google-gemma-2-2b-it.jinja': {
    why: "Gemma 2 has no system role: raise_exception('System role not supported')",
    messages: withoutSystem,
  },
  'CohereForAI-c4ai-command-r-plus-tool_use.jinja': {
    why: 'the tool-use variant iterates over `tools` unconditionally',
    extra: { tools: [weatherTool] },
  },
  'NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja': {
    why: 'the tool-use variant iterates over `tools` unconditionally',
    extra: { tools: [weatherTool] },
  },
  'NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja': {
    why: 'the tool-use variant iterates over `tools` unconditionally',
    extra: { tools: [weatherTool] },
  },
  'meetkai-functionary-medium-v3.1.jinja': {
    why: 'applies `selectattr` to `tools`, which fails on none in Jinja2 too',
    extra: { tools: [weatherTool] },
  },
  'fireworks-ai-llama-3-firefunction-v2.jinja': {
    why: 'concatenates its own variables `functions` (a JSON string) and `datetime`',
    extra: { functions: JSON.stringify([weatherTool.function]), datetime: '2024-07-26' },
  },
};

/** Templates that @huggingface/jinja 0.5.11 cannot run at all: we surface TEMPLATE_ERROR. */
const UNSUPPORTED: Record<string, string> = {
  'ByteDance-Seed-OSS.jinja':
    'a dict literal with integer keys ({0: 0, 512: 128, ...}); the library allows string keys only',
};

describe.runIf(templatesDir)('all fixture chat templates', () => {
  const names = templatesDir
    ? readdirSync(templatesDir)
        .filter((f) => f.endsWith('.jinja'))
        .sort()
    : [];

  it('finds the templates', () => {
    // the fixtures README speaks of 69; the folder holds 68 .jinja files
    expect(names.length).toBeGreaterThanOrEqual(68);
    for (const n of [...Object.keys(EXCEPTIONS), ...Object.keys(UNSUPPORTED)]) expect(names).toContain(n);
  });

  for (const name of names) {
    it(name, () => {
      const template = readTemplate(name);
      if (UNSUPPORTED[name]) {
        const r = tryRender(template, conversation);
        expect(r.error?.code).toBe('TEMPLATE_ERROR');
        return;
      }
      const exception = EXCEPTIONS[name];
      if (exception) {
        // the plain conversation must fail, loudly and with our code
        expect(tryRender(template, conversation).error?.code).toBe('TEMPLATE_ERROR');
      }
      const messages = exception?.messages ?? conversation;
      const r = tryRender(template, messages, exception?.extra);
      if (r.error) expect.fail(`${name}: ${r.error.message}`);
      const text = r.text!;
      for (const m of messages) if (m.role === 'user') expect(text).toContain(m.content);
      // the same template, parsed once and cached, renders the same again
      expect(tryRender(template, messages, exception?.extra).text).toBe(text);
    });
  }
});

describe('raise_exception', () => {
  it('surfaces as TEMPLATE_ERROR with the raised message', () => {
    const t = "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}ok";
    try {
      renderChatTemplate(t, conversation, {});
      expect.unreachable();
    } catch (e) {
      expect(isChordError(e, 'TEMPLATE_ERROR')).toBe(true);
      expect((e as { details?: Record<string, unknown> }).details?.raised).toBe('System role not supported');
    }
    expect(renderChatTemplate(t, withoutSystem, {})).toBe('ok');
  });

  it.runIf(templatesDir)("Gemma 2's own check", () => {
    const r = tryRender(readTemplate('google-gemma-2-2b-it.jinja'), conversation);
    expect(r.error?.details?.raised).toBe('System role not supported');
  });

  it('syntax and runtime errors are TEMPLATE_ERROR too', () => {
    for (const t of ['{% if %}', '{{ messages[0].content.nope() }}', '{% for x in 5 %}{% endfor %}']) {
      expect(() => renderChatTemplate(t, conversation, {})).toThrow(
        expect.objectContaining({ code: 'TEMPLATE_ERROR' }),
      );
    }
  });
});

describe('template globals', () => {
  it('provides the usual variables', () => {
    const t =
      '{{ bos_token }}|{{ eos_token }}|{{ add_generation_prompt }}|{{ messages | length }}|' +
      '{{ tools is none }}|{{ range(3) | join(",") }}|{{ range(1, 7, 2) | join(",") }}|{{ True and not False }}|' +
      '{{ strftime_now("%Y-%m-%d %b %B %a %j") }}|{{ custom }}';
    const out = renderChatTemplate(t, conversation, {
      bosToken: 'B',
      eosToken: 'E',
      addGenerationPrompt: true,
      now: JULY_26_2024,
      extra: { custom: 42 },
    });
    expect(out).toBe('B|E|true|4|true|0,1,2|1,3,5|true|2024-07-26 Jul July Fri 208|42');
  });

  it('lets extra override tools and add Python str.format', () => {
    const t = "{{ tools | length }} {{ '<{}|{name}>{{x}}'.format(1, name='n') }}";
    expect(renderChatTemplate(t, [], { extra: { tools: [1, 2] } })).toBe('2 <1|n>{x}');
  });

  it('leaves `.format` on non-strings an ordinary attribute (a JSON schema key)', () => {
    const t = '{{ p.format }}|{{ p.get("format") }}';
    expect(renderChatTemplate(t, [], { extra: { p: { format: 'date-time' } } })).toBe('date-time|date-time');
    expect(() => renderChatTemplate("{{ '{:>5}'.format(1) }}", [], {})).toThrow(
      expect.objectContaining({ code: 'TEMPLATE_ERROR' }),
    );
  });

  it('defaults add_generation_prompt to false and tokens to empty strings', () => {
    expect(renderChatTemplate('[{{ bos_token }}{{ add_generation_prompt }}]', [], {})).toBe('[false]');
  });
});

describe.runIf(templatesDir)('exact prompts of well-known templates (from the documented formats)', () => {
  const opts = { addGenerationPrompt: true, now: JULY_26_2024 };

  // Llama 3.1 / 3.2 / 3.3 (Meta's prompt-format docs): the system header carries the knowledge
  // cutoff and today's date; every turn is <|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|>
  const llama3 =
    '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n' +
    'Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n' +
    'You are a helpful assistant.<|eot_id|>' +
    '<|start_header_id|>user<|end_header_id|>\n\nHello there!<|eot_id|>' +
    '<|start_header_id|>assistant<|end_header_id|>\n\nHi! How can I help?<|eot_id|>' +
    '<|start_header_id|>user<|end_header_id|>\n\nTell me a joke.<|eot_id|>' +
    '<|start_header_id|>assistant<|end_header_id|>\n\n';
  for (const name of [
    'meta-llama-Llama-3.1-8B-Instruct.jinja',
    'meta-llama-Llama-3.2-3B-Instruct.jinja',
    'meta-llama-Llama-3.3-70B-Instruct.jinja',
  ]) {
    it(name, () => {
      const out = renderChatTemplate(readTemplate(name), conversation, {
        ...opts,
        bosToken: '<|begin_of_text|>',
        eosToken: '<|eot_id|>',
      });
      expect(out).toBe(llama3);
    });
  }

  it('Qwen2.5 (ChatML; its default system prompt when none is given)', () => {
    const t = readTemplate('Qwen-Qwen2.5-7B-Instruct.jinja');
    const turns =
      '<|im_start|>user\nHello there!<|im_end|>\n' +
      '<|im_start|>assistant\nHi! How can I help?<|im_end|>\n' +
      '<|im_start|>user\nTell me a joke.<|im_end|>\n' +
      '<|im_start|>assistant\n';
    expect(renderChatTemplate(t, conversation, opts)).toBe(
      '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' + turns,
    );
    expect(renderChatTemplate(t, withoutSystem, opts)).toBe(
      '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' + turns,
    );
  });

  it('Phi-3.5-mini (<|role|>\\n...<|end|>\\n; eos closes a prompt without generation prompt)', () => {
    const t = readTemplate('microsoft-Phi-3.5-mini-instruct.jinja');
    const body =
      '<|system|>\nYou are a helpful assistant.<|end|>\n' +
      '<|user|>\nHello there!<|end|>\n' +
      '<|assistant|>\nHi! How can I help?<|end|>\n' +
      '<|user|>\nTell me a joke.<|end|>\n';
    expect(renderChatTemplate(t, conversation, { ...opts, eosToken: '<|endoftext|>' })).toBe(body + '<|assistant|>\n');
    expect(renderChatTemplate(t, conversation, { eosToken: '<|endoftext|>' })).toBe(body + '<|endoftext|>');
  });

  it('Gemma 2 (<start_of_turn>user|model, no system role)', () => {
    const out = renderChatTemplate(readTemplate('google-gemma-2-2b-it.jinja'), withoutSystem, {
      ...opts,
      bosToken: '<bos>',
      eosToken: '<eos>',
    });
    expect(out).toBe(
      '<bos><start_of_turn>user\nHello there!<end_of_turn>\n' +
        '<start_of_turn>model\nHi! How can I help?<end_of_turn>\n' +
        '<start_of_turn>user\nTell me a joke.<end_of_turn>\n' +
        '<start_of_turn>model\n',
    );
  });

  it('Mistral Nemo (tekken: [INST]...[/INST], the system prompt goes before the last user message)', () => {
    const out = renderChatTemplate(readTemplate('mistralai-Mistral-Nemo-Instruct-2407.jinja'), conversation, {
      ...opts,
      bosToken: '<s>',
      eosToken: '</s>',
    });
    expect(out).toBe(
      '<s>[INST]Hello there![/INST]Hi! How can I help?</s>' +
        '[INST]You are a helpful assistant.\n\nTell me a joke.[/INST]',
    );
  });

  it('Mistral Small 3.2 (v7 tekken: [SYSTEM_PROMPT]...[/SYSTEM_PROMPT] first)', () => {
    const out = renderChatTemplate(readTemplate('Mistral-Small-3.2-24B-Instruct-2506.jinja'), conversation, {
      ...opts,
      bosToken: '<s>',
      eosToken: '</s>',
    });
    expect(out).toBe(
      '<s>[SYSTEM_PROMPT]You are a helpful assistant.[/SYSTEM_PROMPT]' +
        '[INST]Hello there![/INST]Hi! How can I help?</s>[INST]Tell me a joke.[/INST]',
    );
  });
});

describe('fallbackChatFormat', () => {
  it('writes a plain transcript and ends with "Assistant:" for the model to continue', () => {
    expect(fallbackChatFormat(conversation, { addGenerationPrompt: true })).toBe(
      'System: You are a helpful assistant.\n\nUser: Hello there!\n\n' +
        'Assistant: Hi! How can I help?\n\nUser: Tell me a joke.\n\nAssistant:',
    );
    expect(fallbackChatFormat([{ role: 'tool', content: '42' }], {})).toBe('Tool: 42');
    expect(fallbackChatFormat([], { addGenerationPrompt: true })).toBe('Assistant:');
  });
});

/**
 * llama.cpp's own formatter (llama_chat_apply_template: C++ per template family,
 * no Jinja; libllama v0.4.0 from node-llama-cpp 3.21.1) as an independent oracle.
 * It never writes BOS, and writes Mistral's EOS as the literal "</s>".
 */
describe.runIf(templatesDir)("agrees with llama.cpp's built-in chat formats", () => {
  const golden: { cases: { file: string; system: boolean; ok: boolean; prompt: string }[] } = JSON.parse(
    readFileSync(new URL('./llama-chat.golden.json', import.meta.url), 'utf8'),
  );
  it('has the expected cases', () => expect(golden.cases.map((c) => c.ok)).toEqual([true, true, true, true, true]));
  for (const c of golden.cases) {
    it(c.file, () => {
      const out = renderChatTemplate(readTemplate(c.file), c.system ? conversation : withoutSystem, {
        bosToken: '',
        eosToken: '</s>',
        addGenerationPrompt: true,
        now: JULY_26_2024,
      });
      expect(out).toBe(c.prompt);
    });
  }
});
