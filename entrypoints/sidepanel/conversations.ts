import Dexie, { type EntityTable } from 'dexie';

/** Conversations kept in IndexedDB (the extension's origin), apart from the model store. */
export interface Conversation {
  id: string;
  title: string;
  createdAt: number;
  updatedAt: number;
}

export interface StoredMessage {
  id?: number;
  conversationId: string;
  role: 'user' | 'assistant';
  content: string;
  at: number;
  /** How an assistant reply ended: done, stopped, error. */
  state?: string;
  tokensPerSecond?: number;
}

const db = new Dexie('chord-conversations') as Dexie & {
  conversations: EntityTable<Conversation, 'id'>;
  messages: EntityTable<StoredMessage, 'id'>;
};
db.version(1).stores({ conversations: 'id, updatedAt', messages: '++id, conversationId, at' });

export async function createConversation(title: string): Promise<Conversation> {
  const now = Date.now();
  const conversation = { id: crypto.randomUUID(), title, createdAt: now, updatedAt: now };
  await db.conversations.add(conversation);
  return conversation;
}

export function recentConversations(limit = 50): Promise<Conversation[]> {
  return db.conversations.orderBy('updatedAt').reverse().limit(limit).toArray();
}

export function messagesOf(conversationId: string): Promise<StoredMessage[]> {
  return db.messages.where('conversationId').equals(conversationId).sortBy('at');
}

export async function addMessage(message: StoredMessage): Promise<void> {
  await db.transaction('rw', db.messages, db.conversations, async () => {
    await db.messages.add(message);
    await db.conversations.update(message.conversationId, { updatedAt: message.at });
  });
}

export async function renameConversation(id: string, title: string): Promise<void> {
  await db.conversations.update(id, { title });
}
