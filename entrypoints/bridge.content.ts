import { browser } from 'wxt/browser';
import { ChordError } from '../shared/errors.ts';
import {
  BRIDGE_TAG,
  isTerminal,
  PageRequestSchema,
  PORT,
  parseMessage,
  requestIdOf,
  StreamEventSchema,
} from '../shared/protocol.ts';

// The isolated-world half of window.chord: each page request arrives with its own
// MessagePort; it is parsed, sent to the background on its own runtime Port, and
// the answers come back the same way. The background learns the page's origin from
// the browser, never from the page.
export default defineContentScript({
  matches: ['<all_urls>'],
  runAt: 'document_start',
  main() {
    window.addEventListener('message', (event: MessageEvent) => {
      if (event.source !== window || event.data?.tag !== BRIDGE_TAG) return;
      const pagePort = event.ports[0];
      if (!pagePort) return;
      const request = parseMessage(PageRequestSchema, event.data.request, 'bridge<-page');
      if (!request || request.type === 'abort') {
        const id = requestIdOf(event.data.request) ?? 'unknown';
        const error = new ChordError('BAD_MESSAGE', 'the request was malformed and was dropped');
        pagePort.postMessage({ type: 'error', id, error: error.toJSON() });
        pagePort.close();
        return;
      }
      relay(request, pagePort);
    });
  },
});

function relay(request: { id: string }, pagePort: MessagePort): void {
  const port = browser.runtime.connect({ name: PORT.page });
  let ended = false;
  const end = () => {
    ended = true;
    pagePort.close();
    port.disconnect();
  };
  port.onMessage.addListener((raw: unknown) => {
    const answer = parseMessage(StreamEventSchema, raw, 'bridge<-background');
    if (!answer || ended) return;
    pagePort.postMessage(answer);
    if (isTerminal(answer)) end();
  });
  // A service-worker restart or an extension reload cuts the Port: the page hears it
  // as an error instead of a stream that silently stops.
  port.onDisconnect.addListener(() => {
    if (ended) return;
    const error = new ChordError('INTERNAL', 'the extension stopped before the answer was complete');
    pagePort.postMessage({ type: 'error', id: request.id, error: error.toJSON() });
    ended = true;
    pagePort.close();
  });
  pagePort.onmessage = (event: MessageEvent) => {
    const abort = parseMessage(PageRequestSchema, event.data, 'bridge<-page');
    if (abort?.type === 'abort' && abort.id === request.id && !ended) port.postMessage(abort);
  };
  port.postMessage(request);
}
