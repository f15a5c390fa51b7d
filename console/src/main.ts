/**
 * The operator console: sign in with an API key, then Overview, Subscriptions, Events and Failures over the
 * hub's operator API (same origin). Hash routes (#/events/<id>) so the server serves one page and no key or
 * tenant ever needs to be in a path the server sees.
 */
import './styles.css';
import { html } from 'htm/preact';
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, api, onUnauthorized, session } from './api';
import { EventsPage } from './pages/events';
import { FailuresPage } from './pages/failures';
import { OverviewPage } from './pages/overview';
import { SignIn } from './pages/sign-in';
import { SubscriptionsPage } from './pages/subscriptions';
import type { Session } from './types';
import { Problem } from './ui';

const TENANT = 'hub.tenant';
const PAGES = [
  ['overview', 'Overview'],
  ['subscriptions', 'Subscriptions'],
  ['events', 'Events'],
  ['failures', 'Failures'],
] as const;

function useHashRoute(): string[] {
  const read = () => (location.hash.replace(/^#\/?/, '') || 'overview').split('/').map(decodeURIComponent);
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const on = () => setRoute(read());
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

function App() {
  const [who, setWho] = useState<Session | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [checking, setChecking] = useState(!!session.key());
  const [tenant, setTenant] = useState(sessionStorage.getItem(TENANT) ?? '');
  const route = useHashRoute();
  const main = useRef<HTMLElement>(null);

  const signIn = async (key: string) => {
    setError(null);
    try {
      const s = await api<Session>('GET', '/console/api/session', undefined, key);
      session.signIn(key);
      setWho(s);
    } catch (err) {
      setError(err);
    }
  };
  const signOut = () => {
    session.signOut();
    sessionStorage.removeItem(TENANT);
    setWho(null);
    setTenant('');
  };

  useEffect(() => {
    const key = session.key();
    if (key) void signIn(key).finally(() => setChecking(false));
    return onUnauthorized(() => {
      session.signOut();
      setWho(null);
      setError(new ApiError(401, 'Signed out', 'The API key is no longer valid; sign in again.'));
    });
  }, []);

  // Move focus to the page heading on navigation (keyboard and screen-reader users land on the new content).
  useEffect(() => {
    main.current?.querySelector('h1')?.focus();
  }, [route.join('/')]);

  if (!who) {
    if (checking) return html`<main class="signin"><p role="status">Checking your session…</p></main>`;
    return html`<${SignIn} onSignIn=${signIn} error=${error} />`;
  }
  const page = route[0] ?? 'overview';
  const scopedTenant = who.role === 'TENANT' ? (who.tenantId ?? '') : tenant;
  const applyTenant = (v: string) => {
    setTenant(v);
    sessionStorage.setItem(TENANT, v);
  };
  const props = { tenant: scopedTenant || undefined, who, route };
  return html`
    <a class="skip" href="#main" onClick=${(e: Event) => {
      e.preventDefault();
      main.current?.querySelector('h1')?.focus();
    }}>Skip to content</a>
    <header class="top">
      <span class="brand">Integration Hub</span>
      <nav aria-label="Main">
        <ul>
          ${PAGES.map(
            ([id, label]) =>
              html`<li><a href=${`#/${id}`} aria-current=${page === id ? 'page' : undefined}>${label}</a></li>`,
          )}
        </ul>
      </nav>
      <div class="who">
        ${
          who.role === 'OPERATOR'
            ? html`<${TenantSwitch} value=${tenant} onApply=${applyTenant} />`
            : html`<span>Tenant <strong data-testid="tenant">${who.tenantId}</strong></span>`
        }
        <span class="muted">${who.role === 'OPERATOR' ? 'operator' : 'tenant'} key ${who.name ?? who.keyId}</span>
        <button type="button" onClick=${signOut}>Sign out</button>
      </div>
    </header>
    <main id="main" ref=${main}>
      ${
        page === 'overview'
          ? html`<${OverviewPage} ...${props} />`
          : page === 'subscriptions'
            ? html`<${SubscriptionsPage} ...${props} />`
            : page === 'events'
              ? html`<${EventsPage} ...${props} />`
              : page === 'failures'
                ? html`<${FailuresPage} ...${props} />`
                : html`<h1 tabindex="-1">Not found</h1><${Problem} error=${new ApiError(404, 'Not found', `No page "${page}"`)} />`
      }
    </main>`;
}

function TenantSwitch({ value, onApply }: { value: string; onApply: (v: string) => void }) {
  const [v, setV] = useState(value);
  return html`<form class="tenant" role="search" aria-label="Tenant" onSubmit=${(e: Event) => {
    e.preventDefault();
    onApply(v.trim());
  }}>
    <label for="tenant-switch">Tenant</label>
    <input id="tenant-switch" name="tenant" value=${v} placeholder="all tenants" onInput=${(e: Event) => setV((e.target as HTMLInputElement).value)} />
    <button type="submit">Switch</button>
  </form>`;
}

render(html`<${App} />`, document.getElementById('app')!);
