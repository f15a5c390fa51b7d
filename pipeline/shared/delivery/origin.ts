/**
 * An endpoint URL's origin (scheme://host:port): the key of per-endpoint breakers and concurrency slots.
 *
 * Parsed once per distinct URL (a URL parse per delivery showed in the outbox-processor's profile); the cache
 * holds at most MAX_CACHED URLs and starts afresh when full, so a stream of distinct URLs cannot grow it.
 */
const MAX_CACHED = 10_000;
const cache = new Map<string, string>();

export function originOf(url: string): string {
  let origin = cache.get(url);
  if (origin !== undefined) return origin;
  try {
    origin = new URL(url).origin;
  } catch {
    origin = url;
  }
  if (cache.size >= MAX_CACHED) cache.clear();
  cache.set(url, origin);
  return origin;
}
