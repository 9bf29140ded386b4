import { browser } from 'wxt/browser';
import { ChordError, toChordError } from '../../shared/errors.ts';
import { permissionState } from '../../shared/permissions.ts';
import {
  type Availability,
  isTerminal,
  type ModelSummary,
  PageRequestSchema,
  type PanelRequest,
  PanelRequestSchema,
  parseMessage,
  requestIdOf,
  type StreamEvent,
} from '../../shared/protocol.ts';
import type { EngineLink } from './engine-link.ts';
import { requirePermission } from './permission-prompt.ts';
import type { Job, Scheduler } from './scheduler.ts';

type Port = ReturnType<typeof browser.runtime.connect>;

/** Who is on the other end of a client Port, as the browser (not the caller) says. */
interface Caller {
  kind: 'page' | 'panel';
  /** The web origin of a page; undefined for extension pages. */
  origin?: string;
  tabId?: number;
  /** The fair-queue lane: one per tab, one for the side panel. */
  lane: string;
}

/**
 * Serves one client Port (a page's request through the bridge, or the side panel).
 * Requests are parsed, checked against the caller's permission, and either answered
 * here or sent to the engine; the answers go back with the caller's request ids.
 * A disconnected Port aborts everything it asked for.
 */
export function serveClient(port: Port, caller: Caller, engine: EngineLink, scheduler: Scheduler): void {
  const jobs = new Map<string, Job>();
  const calls = new Map<string, () => void>();
  /** Ids of the calls in `calls` that are downloads. */
  const downloads = new Set<string>();
  let open = true;

  const send = (event: StreamEvent) => {
    if (!open) return;
    try {
      port.postMessage(event);
    } catch {
      open = false;
    }
  };
  const fail = (id: string, e: unknown) => send({ type: 'error', id, error: toChordError(e).toJSON() });

  const engineModels = () => engine.call<ModelSummary[]>({ type: 'models' });

  async function handle(request: PanelRequest): Promise<void> {
    const { id } = request;
    switch (request.type) {
      case 'abort': {
        const job = jobs.get(id);
        if (job) scheduler.cancel(job);
        calls.get(id)?.();
        return;
      }
      case 'availability': {
        if (caller.kind === 'page') {
          const state = await permissionState(caller.origin!, caller.tabId);
          if (state !== 'granted') {
            const value: Availability = state === 'denied' ? 'denied' : 'permission-required';
            return send({ type: 'result', id, value });
          }
        }
        const ready = (await engineModels()).some((m) => m.state === 'ready');
        const value: Availability = ready ? 'available' : 'no-model';
        return send({ type: 'result', id, value });
      }
      case 'models': {
        if (caller.kind === 'page') await requirePermission(caller.origin!, caller.tabId!);
        return send({ type: 'result', id, value: await engineModels() });
      }
      case 'install':
      case 'delete': {
        const handle = engine.request(request, (event) => {
          if (isTerminal(event)) {
            calls.delete(id);
            downloads.delete(id);
          }
          send({ ...event, id });
        });
        calls.set(id, handle.abort);
        if (request.type === 'install') downloads.add(id);
        return;
      }
      case 'generate': {
        if (caller.kind === 'page') await requirePermission(caller.origin!, caller.tabId!);
        if (!open) return;
        const { input, options } = request;
        const job: Job = {
          lane: caller.lane,
          start(finished) {
            if (!open) {
              finished();
              return () => {};
            }
            const handle = engine.request({ type: 'generate', input, options }, (event) => {
              send({ ...event, id });
              if (event.type === 'done' || event.type === 'error') {
                jobs.delete(id);
                finished();
              }
            });
            return handle.abort;
          },
          fail(error) {
            jobs.delete(id);
            fail(id, error);
          },
        };
        jobs.set(id, job);
        scheduler.submit(job);
        return;
      }
    }
  }

  const schema = caller.kind === 'page' ? PageRequestSchema : PanelRequestSchema;
  port.onMessage.addListener((raw: unknown) => {
    const request = parseMessage(schema, raw, `background<-${caller.kind}`);
    if (!request) {
      const id = requestIdOf(raw);
      if (id) fail(id, new ChordError('BAD_MESSAGE', 'the request was malformed and was dropped'));
      return;
    }
    handle(request).catch((e: unknown) => fail(request.id, e));
  });
  port.onDisconnect.addListener(() => {
    open = false;
    for (const job of jobs.values()) scheduler.cancel(job);
    jobs.clear();
    // Downloads outlive the page that started them (closing the options page, or quitting
    // the browser, must not cancel a model download): only an explicit abort or a delete stops one.
    for (const [id, abort] of calls) if (!downloads.has(id)) abort();
    calls.clear();
    downloads.clear();
  });
}

/** Identifies a client Port from what the browser says about its sender; undefined refuses it. */
export function callerOf(port: Port): Caller | undefined {
  const sender = port.sender;
  if (!sender || sender.id !== browser.runtime.id) return undefined;
  const extensionOrigin = new URL(browser.runtime.getURL('/')).origin;
  const url = sender.url ? new URL(sender.url) : undefined;
  if (port.name === 'chord-panel') {
    if (url?.origin !== extensionOrigin) return undefined;
    return { kind: 'panel', lane: 'panel' };
  }
  if (port.name === 'chord-page') {
    const tabId = sender.tab?.id;
    const origin = sender.origin ?? url?.origin;
    if (tabId === undefined || !origin || !/^https?:\/\//.test(origin)) return undefined;
    return { kind: 'page', origin, tabId, lane: `tab ${tabId}` };
  }
  return undefined;
}
