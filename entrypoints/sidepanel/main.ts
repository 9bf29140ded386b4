import { Dexie } from 'dexie';
import { browser } from 'wxt/browser';
import { ChordError } from '../../shared/errors.ts';
import { type ModelSummary, parseMessage, RuntimeMessageSchema } from '../../shared/protocol.ts';
import { SUMMARIZE_JOB_KEY, type SummarizeJob, summarizePrompt } from '../../shared/summarize-job.ts';
import { MessageView } from './chat-view.ts';
import {
  addMessage,
  type Conversation,
  createConversation,
  messagesOf,
  recentConversations,
  renameConversation,
} from './conversations.ts';
import { EngineClient } from './engine-client.ts';
import { describeError } from './friendly-errors.ts';
import { renderMarkdown } from './markdown.ts';

const MODEL_KEY = 'chord.panel.model';
const NO_MODEL = 'No model installed: add one from the options page.';
/** Reply length limit; a setting kept in localStorage (default 512 tokens). */
const maxTokens = () => Number(localStorage.getItem('chord.panel.maxTokens')) || 512;

const $ = <T extends HTMLElement>(testId: string) => document.querySelector<T>(`[data-testid="${testId}"]`)!;
const modelSelect = $<HTMLSelectElement>('model-select');
const conversationSelect = $<HTMLSelectElement>('conversation-select');
const input = $<HTMLTextAreaElement>('chat-input');
const sendButton = $<HTMLButtonElement>('chat-send');
const stopButton = $<HTMLButtonElement>('chat-stop');
const status = $('chat-status');
const errorBox = $('chat-error');
const messagesBox = document.getElementById('messages')!;
const composer = document.getElementById('composer') as HTMLFormElement;

const engine = new EngineClient();
let conversation: Conversation | undefined;
let history: MessageView[] = [];
let stop: (() => void) | undefined;

function showError(e: unknown | undefined): void {
  errorBox.hidden = e === undefined;
  errorBox.textContent = e === undefined ? '' : describeError(e);
}

// Models: the picker shows every stored model; only ready ones can be chosen.
async function refreshModels(): Promise<void> {
  let models: ModelSummary[];
  try {
    models = await engine.call<ModelSummary[]>({ type: 'models' });
  } catch (e) {
    return showError(e);
  }
  const wanted = localStorage.getItem(MODEL_KEY) ?? modelSelect.value;
  modelSelect.replaceChildren(
    ...models.map((m) => {
      const percent = m.size > 0 ? Math.floor((100 * m.bytesDone) / m.size) : 0;
      const label = m.state === 'ready' ? m.name : `${m.name} (${m.state === 'downloading' ? `${percent}%` : 'error'})`;
      const option = new Option(label, m.id);
      option.disabled = m.state !== 'ready';
      return option;
    }),
  );
  const ready = models.filter((m) => m.state === 'ready');
  if (ready.some((m) => m.id === wanted)) modelSelect.value = wanted;
  else if (ready.length > 0) modelSelect.value = [...ready].sort((a, b) => b.lastUsed - a.lastUsed)[0].id;
  if (models.length === 0) status.textContent = NO_MODEL;
  else if (status.textContent === NO_MODEL) status.textContent = '';
  // Downloads in progress: follow them.
  if (models.some((m) => m.state === 'downloading')) setTimeout(() => void refreshModels(), 1000);
}
modelSelect.addEventListener('change', () => localStorage.setItem(MODEL_KEY, modelSelect.value));
// A model installed from the options page shows up when the user comes back to the panel.
window.addEventListener('focus', () => void refreshModels());
// ...and at once while the panel stays open (Firefox even loads its sidebar at install,
// before any model exists): Dexie announces every change committed to the model store
// in any of the extension's pages (a BroadcastChannel), so the picker follows installs,
// deletes and download progress.
let modelsChanged: ReturnType<typeof setTimeout> | undefined;
Dexie.on('storagemutated', (parts) => {
  if (modelsChanged || !Object.keys(parts).some((key) => key.startsWith('idb://chord-models/models/'))) return;
  modelsChanged = setTimeout(() => {
    modelsChanged = undefined;
    void refreshModels();
  }, 250);
});

// Conversations.
async function refreshConversations(): Promise<void> {
  const list = await recentConversations();
  conversationSelect.replaceChildren(new Option('New conversation', ''), ...list.map((c) => new Option(c.title, c.id)));
  conversationSelect.value = conversation?.id ?? '';
}

async function openConversation(c: Conversation | undefined): Promise<void> {
  stop?.();
  conversation = c;
  history = [];
  messagesBox.replaceChildren();
  showError(undefined);
  if (c) {
    for (const m of await messagesOf(c.id)) {
      const view = new MessageView(messagesBox, m.role, m.content);
      if (m.role === 'assistant') view.setState(m.state ?? 'done', tokensPerSecondText(m.tokensPerSecond));
      history.push(view);
    }
  }
  await refreshConversations();
}

conversationSelect.addEventListener('change', async () => {
  const id = conversationSelect.value;
  await openConversation((await recentConversations()).find((c) => c.id === id));
});
$('chat-new').addEventListener('click', () => void openConversation(undefined));

function tokensPerSecondText(rate: number | undefined): string {
  return rate === undefined || !Number.isFinite(rate) ? '' : `${rate.toFixed(1)} tokens/s`;
}

function setBusy(busy: boolean): void {
  sendButton.disabled = busy;
  stopButton.disabled = !busy;
}

/** Sends `text` as the user's turn and streams the model's reply. */
async function send(text: string, title = text): Promise<void> {
  if (stop || text.trim() === '') return;
  showError(undefined);
  if (!conversation) {
    conversation = await createConversation(title.slice(0, 60));
    await refreshConversations();
  } else if (history.length === 0) {
    await renameConversation(conversation.id, title.slice(0, 60));
  }
  const current = conversation;
  const user = new MessageView(messagesBox, 'user', text);
  history.push(user);
  await addMessage({ conversationId: current.id, role: 'user', content: text, at: Date.now() });

  const messages = history.map((m) => ({ role: m.role, content: m.content }));
  const reply = new MessageView(messagesBox, 'assistant');
  reply.setState('streaming');
  history.push(reply);
  setBusy(true);
  status.textContent = 'Thinking…';

  const started = performance.now();
  let firstTokenAt = 0;
  let chunks = 0;
  const finish = async (state: string, rate?: number, error?: unknown) => {
    stop = undefined;
    setBusy(false);
    reply.setState(state, tokensPerSecondText(rate));
    status.textContent = tokensPerSecondText(rate);
    if (error !== undefined) showError(error);
    await addMessage({
      conversationId: current.id,
      role: 'assistant',
      content: reply.content,
      at: Date.now(),
      state,
      tokensPerSecond: rate,
    });
  };
  const model = modelSelect.value || undefined;
  stop = engine.request(
    { type: 'generate', input: messages, options: { maxTokens: maxTokens(), ...(model ? { model } : {}) } },
    (event) => {
      if (event.type === 'chunk') {
        if (chunks++ === 0) firstTokenAt = performance.now();
        reply.append(event.text);
        status.textContent = `${chunks} chunks…`;
      } else if (event.type === 'progress' && event.progress.phase === 'load') {
        status.textContent = `Loading the model… ${Math.floor((100 * event.progress.bytesDone) / Math.max(1, event.progress.size))}%`;
      } else if (event.type === 'done') {
        void finish('done', event.result.timings.decodeTokPerS);
        if (event.result.backend) status.textContent += ` · ${event.result.backend}`;
      } else if (event.type === 'error') {
        if (event.error.code === 'ABORTED') {
          const seconds = (performance.now() - (firstTokenAt || started)) / 1000;
          void finish('stopped', chunks > 1 && seconds > 0 ? (chunks - 1) / seconds : undefined);
        } else {
          void finish('error', undefined, ChordError.fromPayload(event.error));
          if (event.error.code.startsWith('MODEL_')) void refreshModels();
        }
      }
    },
  );
}

composer.addEventListener('submit', (event) => {
  event.preventDefault();
  const text = input.value;
  input.value = '';
  void send(text);
});
input.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey) {
    event.preventDefault();
    composer.requestSubmit();
  }
});
stopButton.addEventListener('click', () => stop?.());

// "Summarize selection" from the context menu: the job waits in storage.session.
const handledJobs = new Set<string>();
async function takeSummarizeJob(): Promise<void> {
  const stored = await browser.storage.session.get(SUMMARIZE_JOB_KEY);
  const job = stored[SUMMARIZE_JOB_KEY] as SummarizeJob | undefined;
  if (!job || handledJobs.has(job.jobId) || Date.now() - job.at > 5 * 60_000) return;
  handledJobs.add(job.jobId);
  await browser.storage.session.remove(SUMMARIZE_JOB_KEY);
  stop?.();
  await openConversation(undefined);
  await send(summarizePrompt(job.text), `Summary: ${job.text}`);
}
browser.runtime.onMessage.addListener((raw: unknown) => {
  const message = parseMessage(RuntimeMessageSchema, raw, 'panel<-runtime');
  if (message?.type === 'summarize') void takeSummarizeJob();
});

// For the end-to-end tests: the renderer that assistant messages go through.
Object.assign(globalThis, { chordPanel: { renderMarkdown } });

setBusy(false);
void refreshModels().then(refreshConversations).then(takeSummarizeJob);
