/**
 * The options page: models (catalog, install by URL or file, progress, delete),
 * site permissions (list, revoke) and storage use. Plain DOM; every control has
 * a stable data-testid for tests written outside the project.
 */
import { CATALOG, type CatalogEntry } from '../../engine/store/catalog.ts';
import { toChordError } from '../../shared/errors.ts';
import {
  deleteModel,
  getModelLimit,
  type InstallProgress,
  installFromFile,
  installFromUrl,
  listGrants,
  listModels,
  modelIdForUrl,
  onGrantsChanged,
  revokeGrant,
  type SiteGrant,
  type StoredModel,
  setModelLimit,
  storageUsage,
} from './api.ts';

const $ = <T extends HTMLElement>(testId: string) => document.querySelector<T>(`[data-testid="${testId}"]`)!;

const urlForm = $<HTMLFormElement>('model-url-form');
const urlInput = $<HTMLInputElement>('model-url');
const fileInput = $<HTMLInputElement>('model-file');
const status = $('options-status');
const modelList = $('model-list');
const modelEmpty = $('model-empty');
const catalogList = $('catalog');
const grantList = $('grant-list');
const grantEmpty = $('grant-empty');
const storageUsed = $('storage-used');
const limitForm = $<HTMLFormElement>('storage-limit-form');
const limitInput = $<HTMLInputElement>('storage-limit');

/** Live progress of the installs this page started, by model id (fresher than the stored bytesDone). */
const live = new Map<string, InstallProgress>();
/** Cancels of the URL downloads this page follows, by model id. */
const cancels = new Map<string, () => void>();
const rows = new Map<string, HTMLLIElement>();
let models: StoredModel[] = [];

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

function formatEta(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '';
  if (seconds < 60) return `${Math.ceil(seconds)} s left`;
  if (seconds < 3600) return `${Math.ceil(seconds / 60)} min left`;
  return `${(seconds / 3600).toFixed(1)} h left`;
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<HTMLElementTagNameMap[K]> = {},
  testId?: string,
) {
  const node = Object.assign(document.createElement(tag), props);
  if (testId) node.setAttribute('data-testid', testId);
  return node;
}

function showError(e: unknown): void {
  const err = toChordError(e);
  status.textContent = `${err.code}: ${err.message}`;
}

function createRow(model: StoredModel): HTMLLIElement {
  const li = el('li', {}, 'model-row');
  li.dataset.modelId = model.id;
  const name = el('div', { className: 'name' }, 'model-name');
  const meta = el('div', { className: 'meta' }, 'model-meta');
  const bar = el('progress', {}, 'model-progress');
  const progressText = el('div', { className: 'meta' }, 'model-progress-text');
  const error = el('div', { className: 'error' }, 'model-error');
  const actions = el('div', { className: 'actions' });
  const resume = el('button', { type: 'button', textContent: 'Resume' }, 'model-resume');
  const cancel = el('button', { type: 'button', textContent: 'Cancel' }, 'model-cancel');
  cancel.addEventListener('click', () => cancels.get(li.dataset.modelId!)?.());
  const remove = el('button', { type: 'button', textContent: 'Delete' }, 'model-delete');
  resume.addEventListener('click', () => {
    const m = models.find((x) => x.id === li.dataset.modelId);
    if (m?.sourceUrl) startUrlInstall(m.sourceUrl, m.name);
  });
  remove.addEventListener('click', async () => {
    remove.disabled = true;
    try {
      await deleteModel(li.dataset.modelId!);
      live.delete(li.dataset.modelId!);
    } catch (e) {
      showError(e);
    } finally {
      remove.disabled = false;
      await refresh();
    }
  });
  actions.append(resume, cancel, remove);
  li.append(name, actions, meta, bar, progressText, error);
  return li;
}

function updateRow(li: HTMLLIElement, model: StoredModel): void {
  const p = live.get(model.id);
  const state =
    model.state === 'downloading' || !p ? model.state : p.state === 'downloading' ? 'downloading' : model.state;
  li.dataset.state = state;
  const q = (id: string) => li.querySelector<HTMLElement>(`[data-testid="${id}"]`)!;
  q('model-name').textContent = model.name;
  const facts = [model.arch, model.quantType, model.size ? formatBytes(model.size) : undefined, state];
  q('model-meta').innerHTML = '';
  q('model-meta').append(facts.filter(Boolean).join(' · '));
  const bytesDone = state === 'downloading' && p ? Math.max(p.bytesDone, model.bytesDone) : model.bytesDone;
  const size = p?.size || model.size;
  const bar = q('model-progress') as HTMLProgressElement;
  bar.hidden = state === 'ready';
  bar.max = size || 1;
  bar.value = Math.min(bytesDone, size || 0);
  bar.dataset.bytesDone = String(bytesDone);
  const text = q('model-progress-text');
  text.hidden = state === 'ready';
  text.textContent =
    state === 'downloading'
      ? [
          `${formatBytes(bytesDone)}${size ? ` of ${formatBytes(size)}` : ''}`,
          p && p.bytesPerSecond > 0 ? `${formatBytes(p.bytesPerSecond)}/s` : '',
          p ? formatEta(p.etaSeconds) : '',
        ]
          .filter(Boolean)
          .join(' · ')
      : state === 'error' && bytesDone > 0
        ? `${formatBytes(bytesDone)}${size ? ` of ${formatBytes(size)}` : ''} kept`
        : '';
  q('model-error').textContent = state === 'error' && model.error ? `${model.error.code}: ${model.error.message}` : '';
  const resume = q('model-resume') as HTMLButtonElement;
  // A URL download that is not running from this page may have stopped (the page that
  // started it closed, the browser restarted): resuming joins it if it is in fact running.
  resume.hidden = !(state !== 'ready' && model.sourceUrl && !live.has(model.id));
  (q('model-cancel') as HTMLButtonElement).hidden = !(state === 'downloading' && cancels.has(model.id));
}

/** When this page last started following each running URL download. */
const followedAt = new Map<string, number>();

/**
 * A URL download running in the engine host without this page (started before it
 * opened, or resumed after a browser restart) is followed: its progress shows, and
 * it can be cancelled from here. Not more than every 5 s per model, so that an
 * engine that cannot be reached is not asked again at every refresh.
 */
function followDownloads(): void {
  for (const model of models) {
    if (model.state !== 'downloading' || !model.sourceUrl || live.has(model.id)) continue;
    if (Date.now() - (followedAt.get(model.id) ?? 0) < 5000) continue;
    followedAt.set(model.id, Date.now());
    startUrlInstall(model.sourceUrl);
  }
}

function renderModels(): void {
  const seen = new Set<string>();
  for (const model of models) {
    seen.add(model.id);
    let li = rows.get(model.id);
    if (!li) {
      li = createRow(model);
      rows.set(model.id, li);
      modelList.append(li);
    }
    updateRow(li, model);
  }
  for (const [id, li] of rows) {
    if (!seen.has(id)) {
      li.remove();
      rows.delete(id);
    }
  }
  modelEmpty.hidden = models.length > 0;
}

async function renderUsage(): Promise<void> {
  const u = await storageUsage();
  const quota = u.quotaBytes !== undefined ? ` of ${formatBytes(u.quotaBytes)} available` : '';
  const persisted =
    u.persisted === undefined ? '' : u.persisted ? ' · kept by the browser' : ' · may be cleared by the browser';
  storageUsed.textContent = `Models use ${formatBytes(u.usedBytes)}${quota}${persisted}`;
  storageUsed.dataset.usedBytes = String(u.usedBytes);
}

let refreshing: Promise<void> | undefined;
let again = false;
/** Re-reads the models from the store; coalesces calls that arrive while one runs. */
async function refresh(): Promise<void> {
  if (refreshing) {
    again = true;
    return refreshing;
  }
  refreshing = (async () => {
    do {
      again = false;
      models = await listModels();
      followDownloads();
      renderModels();
      await renderUsage();
    } while (again);
  })().finally(() => {
    refreshing = undefined;
  });
  return refreshing;
}

function onProgress(p: InstallProgress): void {
  live.set(p.id, p);
  const model = models.find((m) => m.id === p.id);
  if (model) updateRow(rows.get(p.id)!, model);
  else void refresh();
}

function startUrlInstall(url: string, name?: string): void {
  status.textContent = '';
  const id = modelIdForUrl(url);
  live.set(id, { id, bytesDone: 0, size: 0, bytesPerSecond: 0, etaSeconds: null, state: 'downloading' });
  const install = installFromUrl(url, onProgress, name);
  cancels.set(id, install.cancel);
  install.done.catch(showError).finally(() => {
    live.delete(id);
    cancels.delete(id);
    void refresh();
  });
  // The engine host creates the row when the download starts.
  setTimeout(() => void refresh(), 300);
}

urlForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const url = urlInput.value.trim();
  if (!url) return;
  try {
    new URL(url);
  } catch {
    status.textContent = `INVALID_ARGUMENT: not a URL: ${url}`;
    return;
  }
  startUrlInstall(url);
  urlInput.value = '';
});

fileInput.addEventListener('change', () => {
  const file = fileInput.files?.[0];
  if (!file) return;
  status.textContent = '';
  fileInput.value = '';
  installFromFile(file, onProgress)
    .catch(showError)
    .finally(() => void refresh());
  setTimeout(() => void refresh(), 100);
});

function renderCatalog(entries: readonly CatalogEntry[]): void {
  for (const entry of entries) {
    const li = el('li', {}, 'catalog-entry');
    li.dataset.catalogId = entry.id;
    const name = el('div', { className: 'name', textContent: entry.name });
    const meta = el('div', {
      className: 'meta',
      textContent: [
        entry.params,
        entry.quantType,
        `about ${formatBytes(entry.approxSize)}`,
        entry.arch,
        entry.supported ? 'runs today' : 'not supported yet',
        entry.license,
      ].join(' · '),
    });
    const actions = el('div', { className: 'actions' });
    const install = el('button', { type: 'button', textContent: 'Install' }, 'catalog-install');
    install.addEventListener('click', () => startUrlInstall(entry.url, entry.name));
    actions.append(install);
    li.append(name, actions, meta);
    catalogList.append(li);
  }
}

function renderGrants(grants: SiteGrant[]): void {
  grantList.innerHTML = '';
  for (const grant of grants) {
    const li = el('li', {}, 'grant-row');
    li.dataset.origin = grant.origin;
    li.dataset.decision = grant.decision;
    const origin = el('div', { className: 'name', textContent: grant.origin });
    const meta = el('div', {
      className: 'meta',
      textContent: `${grant.decision === 'always' ? 'Always allowed' : 'Denied'} since ${new Date(grant.at).toLocaleString()}`,
    });
    const actions = el('div', { className: 'actions' });
    const revoke = el('button', { type: 'button', textContent: 'Revoke' }, 'grant-revoke');
    revoke.addEventListener('click', () => void revokeGrant(grant.origin).catch(showError));
    actions.append(revoke);
    li.append(origin, actions, meta);
    grantList.append(li);
  }
  grantEmpty.hidden = grants.length > 0;
}

const GIB = 1024 ** 3;
limitForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const gib = limitInput.value.trim() === '' ? undefined : Number(limitInput.value);
  const bytes = gib !== undefined && Number.isFinite(gib) && gib > 0 ? Math.round(gib * GIB) : undefined;
  void setModelLimit(bytes)
    .then(() => refresh())
    .catch(showError);
});
void getModelLimit().then((bytes) => {
  limitInput.value = bytes === undefined ? '' : String(+(bytes / GIB).toFixed(3));
});

renderCatalog(CATALOG);
void refresh().catch(showError);
void listGrants().then(renderGrants, showError);
onGrantsChanged(renderGrants);
// Installs started elsewhere (the side panel, another options tab) show up too.
setInterval(() => {
  if (document.visibilityState === 'visible') void refresh().catch(() => undefined);
}, 1000);
