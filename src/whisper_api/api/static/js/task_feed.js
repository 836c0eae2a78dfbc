// whisper-api web page: how a task's card hears of the task on the server: Server-Sent Events
// where the page has no API key (EventSource sends no headers), polling where it has one or
// where the stream breaks.

import { apiJson } from "./api.js";
import { apiKey } from "./storage.js";

const POLL_INTERVAL_MS = 1000;

export class TaskFeed {
  /** `card` (a TaskCard) is told what comes: `update(task)`, `queuePosition(n)`, `expire()`
   *  where the server no longer knows the task, and `trouble(message)` while it cannot be
   *  asked; `card.wantsNews()` says whether it still listens. */
  constructor(card) {
    this.card = card;
    this.source = null;
    this.timer = null;
  }

  path() {
    return `/api/v1/tasks/${encodeURIComponent(this.card.id)}`;
  }

  follow() {
    if (!this.card.wantsNews()) return;
    if (apiKey() || typeof EventSource !== "function") return this.poll();
    const source = new EventSource(`${this.path()}/events`);
    this.source = source;
    const handle = (event) => {
      let data;
      try {
        data = JSON.parse(event.data);
      } catch {
        return;
      }
      if (event.type === "position") this.card.queuePosition(data.position_in_queue);
      else this.card.update(data);
    };
    for (const name of ["status", "progress", "position"]) source.addEventListener(name, handle);
    source.onerror = () => {
      // The stream broke (or the server refused it): fall back to polling.
      this.stop();
      if (this.card.wantsNews()) this.poll();
    };
  }

  poll() {
    this.stop();
    const tick = async () => {
      if (this.card.closed) return;
      try {
        this.card.update(await apiJson(this.path()));
      } catch (error) {
        if (error.status === 404 || error.status === 400) return this.card.expire();
        this.card.trouble(error.message);
      }
      if (this.card.wantsNews()) this.timer = setTimeout(tick, POLL_INTERVAL_MS);
    };
    tick();
  }

  stop() {
    if (this.source) {
      this.source.close();
      this.source = null;
    }
    clearTimeout(this.timer);
    this.timer = null;
  }
}
