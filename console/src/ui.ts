/** Small shared pieces: loading hook, problem box, times, status badges, pager, labelled fields. */
import { html } from 'htm/preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { ApiError } from './api';

export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/** Runs `load` when `deps` change (and on reload); the last answer wins. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => live && setState({ data, loading: false }),
      (error) => live && setState({ error, loading: false }),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data: state.data, error: state.error, loading: state.loading, reload };
}

/** An API problem (or any error) as the user should read it: title, detail, field errors, what to do. */
export function Problem({ error }: { error: unknown }) {
  if (!error) return null;
  const e =
    error instanceof ApiError ? error : new ApiError(0, 'Something went wrong', String((error as Error)?.message));
  return html`<div class="problem" role="alert">
    <strong>${e.status ? `${e.status} ` : ''}${e.title}</strong>
    ${e.detail ? html`<p class="detail">${e.detail}</p>` : null}
    ${e.errors.length ? html`<ul class="errs">${e.errors.map((f) => html`<li><code>${f.path || f.in}</code>: ${f.message}</li>`)}</ul>` : null}
  </div>`;
}

export function Loading({ what }: { what: string }) {
  return html`<p class="muted" role="status">Loading ${what}…</p>`;
}

const utc = (iso: string) => `${iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, '')} UTC`;

/** A time in the browser's locale, UTC on hover (and for screen readers via datetime). */
export function Time({ iso }: { iso: string | null | undefined }) {
  if (!iso) return html`<span class="muted">—</span>`;
  const d = new Date(iso);
  return html`<time datetime=${iso} title=${utc(d.toISOString())}>${d.toLocaleString()}</time>`;
}

export function age(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return '—';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

export function Status({ s }: { s: string }) {
  return html`<span class=${`badge badge-${s.toLowerCase()}`}>${s}</span>`;
}

/** Cursor pagination: the cursors of pages seen so far make "Previous" possible. */
export function usePager() {
  const [stack, setStack] = useState<(string | undefined)[]>([undefined]);
  const cursor = stack[stack.length - 1];
  return {
    cursor,
    page: stack.length,
    reset: () => setStack([undefined]),
    next: (c: string) => setStack((s) => [...s, c]),
    prev: () => setStack((s) => (s.length > 1 ? s.slice(0, -1) : s)),
  };
}

export function Pager({
  pager,
  nextCursor,
}: {
  pager: ReturnType<typeof usePager>;
  nextCursor: string | null | undefined;
}) {
  return html`<nav class="pager" aria-label="Pages">
    <button type="button" disabled=${pager.page <= 1} onClick=${pager.prev}>Previous page</button>
    <span aria-live="polite">Page ${pager.page}</span>
    <button type="button" disabled=${!nextCursor} onClick=${() => nextCursor && pager.next(nextCursor)}>Next page</button>
  </nav>`;
}

let fieldSeq = 0;
/** A labelled input (the label is tied to the control for screen readers and clicks). */
export function Field(props: {
  label: string;
  name: string;
  value: string;
  onInput: (v: string) => void;
  type?: string;
  placeholder?: string;
  options?: string[];
  hint?: string;
}) {
  const [id] = useState(() => `f-${props.name}-${++fieldSeq}`);
  const control = props.options
    ? html`<select id=${id} name=${props.name} value=${props.value} onChange=${(e: Event) => props.onInput((e.target as HTMLSelectElement).value)}>
        <option value="">any</option>
        ${props.options.map((o) => html`<option value=${o}>${o}</option>`)}
      </select>`
    : html`<input id=${id} name=${props.name} type=${props.type ?? 'text'} value=${props.value} placeholder=${props.placeholder}
        aria-describedby=${props.hint ? `${id}-hint` : undefined}
        onInput=${(e: Event) => props.onInput((e.target as HTMLInputElement).value)} />`;
  return html`<div class="field">
    <label for=${id}>${props.label}</label>
    ${control}
    ${props.hint ? html`<small id=${`${id}-hint`} class="muted">${props.hint}</small>` : null}
  </div>`;
}

/** A datetime-local value (browser local time) as an ISO instant, or undefined. */
export const localToIso = (v: string) => (v ? new Date(v).toISOString() : undefined);

/** The result of an action, announced politely. */
export function Notice({ kind, children }: { kind: 'ok' | 'info'; children: unknown }) {
  return html`<div class=${`notice notice-${kind}`} role="status">${children}</div>`;
}

/** One page of a cursor-paginated list as a table: problem, loading, rows (or "none match"), pager. */
export function ListView<T>(props: {
  label: string;
  what: string;
  loaded: Loaded<{ items: T[]; nextCursor: string | null }>;
  pager: ReturnType<typeof usePager>;
  /** Column headings; null entries are left out (e.g. the tenant column when one tenant is shown). */
  head: (string | null)[];
  row: (item: T) => unknown;
}) {
  const { loaded } = props;
  const head = props.head.filter((h): h is string => h !== null);
  return html`<${Problem} error=${loaded.error} />
    ${loaded.loading && !loaded.data ? html`<${Loading} what=${props.what} />` : null}
    ${
      loaded.data
        ? html`<div class="scroll"><table class="list" aria-label=${props.label}>
          <thead><tr>${head.map((h) => html`<th scope="col">${h || html`<span class="sr-only">Actions</span>`}</th>`)}</tr></thead>
          <tbody>
            ${loaded.data.items.length === 0 ? html`<tr><td colspan=${head.length} class="muted">No ${props.what} match.</td></tr>` : null}
            ${loaded.data.items.map(props.row)}
          </tbody>
        </table></div>
        <${Pager} pager=${props.pager} nextCursor=${loaded.data.nextCursor} />`
        : null
    }`;
}

/** A detail page's top: the way back, the heading (focus target on navigation), its load problem or progress. */
export function DetailHead(props: {
  back: string;
  backLabel: string;
  title: string;
  id: string;
  loaded: Loaded<unknown>;
  what: string;
}) {
  return html`<p><a href=${props.back}>← ${props.backLabel}</a></p>
    <h1 tabindex="-1">${props.title} <code>${props.id}</code></h1>
    <p><button type="button" onClick=${props.loaded.reload}>Refresh</button></p>
    <${Problem} error=${props.loaded.error} />
    ${props.loaded.loading && !props.loaded.data ? html`<${Loading} what=${props.what} />` : null}`;
}
