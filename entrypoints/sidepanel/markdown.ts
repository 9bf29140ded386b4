import DOMPurify from 'dompurify';
import { marked } from 'marked';

/**
 * Model output is untrusted text: Markdown is parsed with marked, and the HTML is
 * sanitized with DOMPurify before it touches the DOM (no scripts, handlers, or
 * javascript: links). Links open in a new tab.
 */
DOMPurify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A') {
    node.setAttribute('target', '_blank');
    node.setAttribute('rel', 'noopener noreferrer');
  }
});

export function renderMarkdown(text: string): string {
  const html = marked.parse(text, { async: false, gfm: true, breaks: true });
  return DOMPurify.sanitize(html, { FORBID_TAGS: ['style', 'img', 'form', 'input'] });
}
