// whisper-api web page: what this browser keeps between visits: the API key and the tasks
// uploaded from it. A browser that keeps nothing (private mode, a full storage) still works.

const KEY_STORAGE = "whisper-api.key";
const TASKS_STORAGE = "whisper-api.tasks";

function storageGet(name) {
  try {
    return localStorage.getItem(name);
  } catch {
    return null;
  }
}

function storageSet(name, value) {
  try {
    if (value === null) localStorage.removeItem(name);
    else localStorage.setItem(name, value);
  } catch {
    // Private mode or storage full: the page still works, it just forgets.
  }
}

export function apiKey() {
  return storageGet(KEY_STORAGE) || "";
}

/** Keep `key` as the API key, or forget it (null). */
export function setApiKey(key) {
  storageSet(KEY_STORAGE, key);
}

/** The tasks this browser uploaded: {id, name, created, type} each. */
export function storedTasks() {
  try {
    const list = JSON.parse(storageGet(TASKS_STORAGE) || "[]");
    return Array.isArray(list) ? list.filter((t) => t && typeof t.id === "string") : [];
  } catch {
    return [];
  }
}

export function rememberTask(record) {
  const list = storedTasks().filter((t) => t.id !== record.id);
  list.push(record);
  storageSet(TASKS_STORAGE, JSON.stringify(list));
}

export function forgetTask(id) {
  storageSet(TASKS_STORAGE, JSON.stringify(storedTasks().filter((t) => t.id !== id)));
}
