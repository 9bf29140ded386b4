/** A model row as the tests read it from the store's database. */
export interface SeenModelRow {
  id: string;
  state: string;
  bytesDone: number;
  size: number;
  sha256?: string;
}

/**
 * The model store's rows, read straight from IndexedDB (`chord-models`) inside an
 * extension context: give it to `evaluate` of the service worker or an extension
 * page. Asking the engine instead would start it. Self-contained: it is serialized.
 */
export function readModelRows(): Promise<SeenModelRow[]> {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open('chord-models');
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const db = open.result;
      if (!db.objectStoreNames.contains('models')) {
        db.close();
        resolve([]);
        return;
      }
      const all = db.transaction('models').objectStore('models').getAll();
      all.onsuccess = () => {
        db.close();
        resolve(all.result as SeenModelRow[]);
      };
      all.onerror = () => reject(all.error);
    };
  });
}
