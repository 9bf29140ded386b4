/**
 * Model ids: a readable slug of the name and a short hash of where the bytes
 * come from, so the same URL always maps to the same row (re-installing it
 * resumes) and two sources with one file name do not collide.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';

export function slug(name: string): string {
  const s = name
    .toLowerCase()
    .replace(/\.gguf$/, '')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 48);
  return s || 'model';
}

export function shortHash(text: string): string {
  return bytesToHex(sha256(utf8ToBytes(text))).slice(0, 10);
}

/** The last path segment of a URL, decoded ('model.gguf' for https://host/a/model.gguf?download=1). */
export function fileNameOf(url: string): string {
  try {
    const path = new URL(url).pathname;
    const last = path.split('/').filter(Boolean).pop();
    return last ? decodeURIComponent(last) : new URL(url).host;
  } catch {
    return url;
  }
}

export function urlModelId(url: string, name = fileNameOf(url)): string {
  return `${slug(name)}-${shortHash(`url:${url}`)}`;
}

export function fileModelId(name: string, size: number): string {
  return `${slug(name)}-${shortHash(`file:${name}:${size}`)}`;
}
