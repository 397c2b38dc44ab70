import { randomBytes } from 'node:crypto';

/** How long a dashboard login lasts (12 hours): a working day, then the token again. */
export const SESSION_SECONDS = 12 * 60 * 60;
/** Sessions kept at most; a login beyond it drops the oldest one. */
const MAX_SESSIONS = 10_000;

/**
 * The dashboard's logins, kept in this process: a session id is 32 random bytes (base64url),
 * opaque to the browser and worth nothing once the server restarts or the session expires.
 * Nothing about the token is stored in the cookie, so a stolen cookie never reveals a token.
 */
export class SessionStore {
  /** Session id → expiry (epoch ms). Insertion order is age order. */
  readonly #sessions = new Map<string, number>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Opens a session and returns its id. */
  open(): string {
    const id = randomBytes(32).toString('base64url');
    if (this.#sessions.size >= MAX_SESSIONS) {
      const oldest = this.#sessions.keys().next().value;
      if (oldest !== undefined) this.#sessions.delete(oldest);
    }
    this.#sessions.set(id, this.#now() + SESSION_SECONDS * 1000);
    return id;
  }

  /** Whether `id` names an open, unexpired session (an expired one is forgotten). */
  valid(id: string | undefined): boolean {
    if (id === undefined || id === '') return false;
    const expires = this.#sessions.get(id);
    if (expires === undefined) return false;
    if (expires <= this.#now()) {
      this.#sessions.delete(id);
      return false;
    }
    return true;
  }

  close(id: string | undefined): void {
    if (id !== undefined) this.#sessions.delete(id);
  }
}
