/** Sign-in: the API key goes to sessionStorage once the hub accepts it (never into the URL). */
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { Problem } from '../ui';

export function SignIn({ onSignIn, error }: { onSignIn: (key: string) => Promise<void>; error: unknown }) {
  const [key, setKey] = useState('');
  const [busy, setBusy] = useState(false);
  return html`<main class="signin">
    <h1>Integration Hub console</h1>
    <form method="post" onSubmit=${async (e: Event) => {
      e.preventDefault();
      setBusy(true);
      await onSignIn(key.trim());
      setBusy(false);
    }}>
      <label for="api-key">API key</label>
      <input id="api-key" name="api-key" type="password" autocomplete="off" required value=${key}
        aria-describedby="api-key-hint" onInput=${(e: Event) => setKey((e.target as HTMLInputElement).value)} />
      <small id="api-key-hint" class="muted">An operator key (all tenants) or a tenant key. Kept in this tab only.</small>
      <button type="submit" disabled=${busy || !key.trim()}>${busy ? 'Signing in…' : 'Sign in'}</button>
    </form>
    <${Problem} error=${error} />
  </main>`;
}
