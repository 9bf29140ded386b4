/**
 * The tag on window.postMessage between window.chord (MAIN world) and the bridge
 * content script; each request carries its own MessagePort. Kept apart from
 * protocol.ts so that the page-world script does not bundle zod.
 */
export const BRIDGE_TAG = 'chord-bridge-v1';
