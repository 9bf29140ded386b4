export { pythonFormat } from './interpreter.ts';
export { strftime } from './strftime.ts';
export { type ChatMessage, type ChatTemplateOptions, fallbackChatFormat, renderChatTemplate } from './template.ts';
