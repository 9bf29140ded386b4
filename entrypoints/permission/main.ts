import { browser } from 'wxt/browser';
import { PermissionDecisionSchema, type RuntimeMessage } from '../../shared/protocol.ts';

// The per-site prompt: shows the origin the background opened it for, and sends
// back the user's decision for that prompt id (the background knows the origin; the
// query string only displays it).
const params = new URLSearchParams(location.search);
const promptId = params.get('prompt') ?? '';
document.querySelector('[data-testid="permission-origin"]')!.textContent = params.get('origin') ?? '(unknown)';

for (const button of document.querySelectorAll<HTMLButtonElement>('button[data-decision]')) {
  button.addEventListener('click', async () => {
    const decision = PermissionDecisionSchema.parse(button.dataset.decision);
    const message: RuntimeMessage = { type: 'permission-decision', promptId, decision };
    for (const b of document.querySelectorAll('button')) b.disabled = true;
    await browser.runtime.sendMessage(message).catch(() => {});
    window.close();
  });
}
