import { renderMarkdown } from './markdown.ts';

/** One message bubble; assistant text is rendered as sanitized Markdown, user text as plain text. */
export class MessageView {
  readonly element: HTMLElement;
  private readonly body: HTMLElement;
  private readonly stats: HTMLElement;
  private text = '';
  private frame = 0;

  constructor(
    container: HTMLElement,
    readonly role: 'user' | 'assistant',
    text = '',
  ) {
    this.element = document.createElement('div');
    this.element.className = 'message';
    this.element.dataset.testid = 'chat-message';
    this.element.dataset.role = role;
    this.body = document.createElement('div');
    this.body.className = 'body';
    this.stats = document.createElement('div');
    this.stats.className = 'stats';
    this.element.append(this.body, this.stats);
    container.append(this.element);
    this.set(text);
  }

  get content(): string {
    return this.text;
  }

  set(text: string): void {
    this.text = text;
    if (this.role === 'user') this.body.textContent = text;
    else this.render();
  }

  append(text: string): void {
    this.text += text;
    // Re-render at most once a frame while tokens stream in.
    if (this.frame === 0) {
      this.frame = requestAnimationFrame(() => {
        this.frame = 0;
        this.render();
      });
    }
  }

  /** streaming | done | stopped | error */
  setState(state: string, stats = ''): void {
    cancelAnimationFrame(this.frame);
    this.frame = 0;
    this.render();
    this.element.dataset.state = state;
    this.stats.textContent = stats;
    this.element.scrollIntoView({ block: 'end' });
  }

  private render(): void {
    this.body.innerHTML = renderMarkdown(this.text);
  }
}
