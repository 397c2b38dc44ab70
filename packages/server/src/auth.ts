import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/**
 * The bearer tokens a server accepts. Only their SHA-256 digests are kept; a presented token is
 * hashed and compared with every one of them by `timingSafeEqual` (equal-length digests, no early
 * exit), so neither a token's content nor its length shows in the time an answer takes.
 */
export class TokenSet {
  readonly #digests: readonly Buffer[];

  constructor(tokens: readonly string[]) {
    this.#digests = tokens.map(digest);
  }

  get size(): number {
    return this.#digests.length;
  }

  /** Whether `Authorization` header `header` carries one of the tokens (`Bearer <token>`). */
  accepts(header: string | undefined): boolean {
    const match = header === undefined ? null : /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    const presented = digest(match?.[1] ?? '');
    let ok = false;
    for (const known of this.#digests) {
      // The comparison comes first, so every digest is compared whatever the others gave.
      ok = timingSafeEqual(known, presented) || ok;
    }
    return ok && match !== null;
  }
}
