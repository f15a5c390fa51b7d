/**
 * The console's only way to the hub: same-origin fetch with the signed-in key in the Authorization header. The key
 * lives in sessionStorage (gone when the tab closes), never in a URL, never logged. Errors are the API's
 * problem+json (RFC 9457), kept whole so the page can show title, detail and field errors.
 */
const KEY = 'hub.apiKey';

export interface FieldError {
  in?: string;
  path: string;
  message: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string | undefined,
    readonly errors: FieldError[] = [],
  ) {
    super(detail ? `${title}: ${detail}` : title);
  }
}

export const session = {
  key: (): string | null => sessionStorage.getItem(KEY),
  signIn: (key: string) => sessionStorage.setItem(KEY, key),
  signOut: () => sessionStorage.removeItem(KEY),
};

/** Listeners told when the API says the key is no good (401): the app goes back to sign-in. */
const unauthorizedListeners = new Set<() => void>();
export const onUnauthorized = (fn: () => void) => {
  unauthorizedListeners.add(fn);
  return () => unauthorizedListeners.delete(fn);
};

export type Query = Record<string, string | number | boolean | undefined | null>;

export function withQuery(path: string, query: Query = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

export async function api<T>(method: 'GET' | 'POST', path: string, body?: unknown, key = session.key()): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers: {
        accept: 'application/json, application/problem+json',
        ...(key ? { authorization: `Bearer ${key}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch (err) {
    throw new ApiError(0, 'Network error', `the hub did not answer (${(err as Error).message}); is it running?`);
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const p = (json ?? {}) as { title?: string; detail?: string; errors?: FieldError[] };
    if (res.status === 401) for (const fn of unauthorizedListeners) fn();
    throw new ApiError(res.status, p.title ?? `HTTP ${res.status}`, p.detail ?? text.slice(0, 300), p.errors ?? []);
  }
  return json as T;
}

export const get = <T>(path: string, query?: Query) => api<T>('GET', withQuery(path, query));
export const post = <T>(path: string, body?: unknown) => api<T>('POST', path, body);
