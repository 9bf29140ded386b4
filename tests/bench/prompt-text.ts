/**
 * A prompt text that the model's tokenizer turns into exactly `n` tokens (BOS
 * included). wllama takes only text prompts (its completion API rejects token
 * arrays), so it gets this text while the other runtimes get token ids; the
 * count is what matters for speed. The count comes from our tokenizer, which the
 * tokenizer tests check against llama.cpp's; wllama's own report of the prompt
 * length is checked against it afterwards.
 */
import { readGGUF } from '../../engine/gguf/reader.ts';
import { openNodeSource } from '../../engine/node/file-source.ts';
import { loadTokenizer } from '../../engine/tokenizer/index.ts';

const STORY =
  'Once upon a time there was a little girl named Lily. She loved to play outside in the park with her friends. ' +
  'One day she saw a big red ball under a tree, and she ran to get it. Her mom smiled and said they could go home soon.';

export async function promptTextOfLength(modelPath: string, n: number): Promise<{ text: string; tokens: number }> {
  const source = await openNodeSource(modelPath);
  let file: Awaited<ReturnType<typeof readGGUF>>;
  try {
    file = await readGGUF(source);
  } finally {
    await source.close?.();
  }
  const tokenizer = loadTokenizer(file.metadata);
  const count = (text: string) => tokenizer.tokenize(text, { addSpecial: true }).length;
  const words = STORY.split(' ');
  // The longest run of story words that stays within n tokens...
  let text = '';
  for (let i = 0; ; i++) {
    const longer = text === '' ? words[0] : `${text} ${words[i % words.length]}`;
    if (count(longer) > n) break;
    text = longer;
  }
  // ...then single-token characters (newlines are byte tokens, never merged here) to make up the rest.
  let padded = text;
  while (count(padded) < n) padded += '\n';
  const tokens = count(padded);
  return tokens === n ? { text: padded, tokens } : { text, tokens: count(text) };
}
