import { installChordApi } from './chord-api.ts';

// window.chord, in the page's own world. (Not named chord.content.ts: WXT turns the
// file name into a page global, which would overwrite window.chord.)
export default defineContentScript({
  matches: ['<all_urls>'],
  runAt: 'document_start',
  world: 'MAIN',
  main() {
    installChordApi();
  },
});
