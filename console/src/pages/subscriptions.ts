/**
 * Subscriptions (through the dlt-processor's /console/api/subscriptions, which forwards to the subscription-api
 * with the signed-in key): list and filter; detail with match, endpoint, auth type (never a credential), order,
 * retry schedule and health; pause, resume, rotate secret (the new secret shown once, with a copy button).
 */
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { get, post } from '../api';
import type { Page, PageProps, RotatedSecret, Subscription, TestDelivery } from '../types';
import { age, DetailHead, Field, ListView, Notice, Problem, Status, Time, useLoad, usePager } from '../ui';

const BASE = '/console/api/subscriptions';

export function SubscriptionsPage(props: PageProps) {
  const id = props.route[1];
  return id ? html`<${SubscriptionPage} id=${id} />` : html`<${SubscriptionList} ...${props} />`;
}

function SubscriptionList({ tenant }: PageProps) {
  const [status, setStatus] = useState('');
  const [eventType, setEventType] = useState('');
  const [applied, setApplied] = useState({ status, eventType });
  const pager = usePager();
  const list = useLoad(
    () =>
      get<Page<Subscription>>(BASE, {
        tenantId: tenant,
        status: applied.status || undefined,
        eventType: applied.eventType || undefined,
        limit: 25,
        cursor: pager.cursor,
      }),
    [tenant, JSON.stringify(applied), pager.cursor],
  );
  return html`<h1 tabindex="-1">Subscriptions${tenant ? html` <small>tenant ${tenant}</small>` : null}</h1>
    <form class="filters" aria-label="Filter subscriptions" onSubmit=${(e: Event) => {
      e.preventDefault();
      pager.reset();
      setApplied({ status, eventType });
    }}>
      <${Field} label="Status" name="status" value=${status} onInput=${setStatus} options=${['ACTIVE', 'PAUSED']} />
      <${Field} label="Event type" name="eventType" value=${eventType} onInput=${setEventType} />
      <div class="field actions"><button type="submit">Apply filters</button></div>
    </form>
    <${ListView}
      label="Subscriptions"
      what="subscriptions"
      loaded=${list}
      pager=${pager}
      head=${['Subscription', 'Status', tenant ? null : 'Tenant', 'Endpoint', 'Match', 'Health']}
      row=${(s: Subscription) => html`<tr data-subscription=${s.id}>
        <td><a href=${`#/subscriptions/${encodeURIComponent(s.id)}`}><code>${s.id}</code></a>${s.description ? html`<br /><small>${s.description}</small>` : null}</td>
        <td><${Status} s=${s.status} /></td>${tenant ? null : html`<td>${s.tenantId}</td>`}
        <td class="wrap">${s.endpointUrl}</td>
        <td>${matchText(s.match)}</td>
        <td>${s.health.failing ? html`<${Status} s="FAILING" />` : 'ok'}${s.held.count ? ` · ${s.held.count} held` : ''}</td>
      </tr>`}
    />`;
}

const matchText = (m: Subscription['match']) =>
  `${m.sourceService} / ${m.eventType} / ${m.resourceType} / ${m.operationType}`;

function SubscriptionPage({ id }: { id: string }) {
  const sub = useLoad(() => get<Subscription>(`${BASE}/${encodeURIComponent(id)}`), [id]);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [secret, setSecret] = useState<RotatedSecret | null>(null);
  const [copied, setCopied] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const act = async (action: 'pause' | 'resume' | 'rotate-secret') => {
    setBusy(true);
    setError(null);
    setNotice(null);
    setSecret(null);
    setCopied(null);
    try {
      const out = await post<Subscription | RotatedSecret>(`${BASE}/${encodeURIComponent(id)}/${action}`);
      if (action === 'rotate-secret') setSecret(out as RotatedSecret);
      else
        setNotice(
          action === 'pause'
            ? 'Paused: deliveries are held until you resume.'
            : 'Resumed: held deliveries are sent now.',
        );
      sub.reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const sendTest = async () => {
    setBusy(true);
    setError(null);
    setNotice(null);
    setSecret(null);
    try {
      const out = await post<TestDelivery>('/v1/test-deliveries', { subscriptionId: id });
      setNotice(
        out.delivered
          ? `Test event ${out.eventId} delivered: the endpoint answered ${out.statusCode} in ${out.durationMs} ms.`
          : `Test event ${out.eventId} not delivered: ${out.statusCode ? `HTTP ${out.statusCode}` : (out.errorCode ?? 'no answer')}${out.error ? ` (${out.error})` : ''}${out.responseSnippet ? `; it answered: ${out.responseSnippet}` : ''}.`,
      );
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const copy = async () => {
    if (!secret) return;
    try {
      await navigator.clipboard.writeText(secret.signingSecret);
      setCopied('Copied to the clipboard.');
    } catch {
      setCopied('The browser refused the clipboard: select the secret and copy it yourself.');
    }
  };
  const s = sub.data;
  return html`<${DetailHead} back="#/subscriptions" backLabel="Subscriptions" title="Subscription" id=${id} loaded=${sub} what="the subscription" />
    ${
      s
        ? html`
      <dl class="facts">
        <div><dt>Status</dt><dd data-testid="sub-status"><${Status} s=${s.status} /></dd></div>
        <div><dt>Tenant</dt><dd>${s.tenantId}</dd></div>
        <div><dt>Description</dt><dd>${s.description ?? '—'}</dd></div>
        <div><dt>Match</dt><dd>${matchText(s.match)}</dd></div>
        <div><dt>Endpoint</dt><dd class="wrap">${s.endpointUrl}</dd></div>
        <div><dt>Content mode</dt><dd>${s.contentMode}</dd></div>
        <div><dt>Auth</dt><dd>${s.auth.type}${s.auth.username ? ` (user ${s.auth.username})` : ''}${s.auth.headerName ? ` (header ${s.auth.headerName})` : ''}</dd></div>
        <div><dt>Ordered</dt><dd>${s.ordered ? 'yes' : 'no'}</dd></div>
        <div><dt>Retry schedule</dt><dd>${s.retrySchedule ? s.retrySchedule.join(', ') : "the hub's default"}</dd></div>
        <div><dt>Batched</dt><dd>${s.batch ? `up to ${s.batch.maxEvents} events, ${s.batch.maxWaitMs} ms` : 'no (one event per request)'}</dd></div>
        <div><dt>Health</dt><dd>${s.health.failing ? html`<${Status} s="FAILING" />` : 'ok'} · ${s.health.exhaustedDeliveries} exhausted, last <${Time} iso=${s.health.lastExhaustedAt} /></dd></div>
        <div><dt>Held deliveries</dt><dd>${s.held.count}${s.held.count ? `, oldest ${age(s.held.oldestAgeSeconds)}` : ''}</dd></div>
        <div><dt>Previous secret valid until</dt><dd><${Time} iso=${s.signing?.previousSecretExpiresAt} /></dd></div>
      </dl>
      <div class="actions-row">
        ${
          s.status === 'ACTIVE'
            ? html`<button type="button" disabled=${busy} onClick=${() => act('pause')}>Pause</button>`
            : html`<button type="button" disabled=${busy} onClick=${() => act('resume')}>Resume</button>`
        }
        <button type="button" disabled=${busy} onClick=${() => act('rotate-secret')}>Rotate secret</button>
        <button type="button" disabled=${busy || s.status !== 'ACTIVE'} onClick=${sendTest}>Send test event</button>
        <a href=${`#/failures`}>Failures</a>
      </div>
      ${notice ? html`<${Notice} kind="ok">${notice}<//>` : null}
      ${
        secret
          ? html`<div class="secret" role="status">
            <p><strong>New signing secret</strong> (shown once; the previous one keeps signing until <${Time} iso=${secret.previousSecretExpiresAt} />):</p>
            <label for="new-secret" class="sr-only">New signing secret</label>
            <input id="new-secret" readonly value=${secret.signingSecret} data-testid="new-secret" onFocus=${(e: Event) => (e.target as HTMLInputElement).select()} />
            <button type="button" onClick=${copy}>Copy secret</button>
            ${copied ? html`<span> ${copied}</span>` : null}
          </div>`
          : null
      }
      <${Problem} error=${error} />`
        : null
    }`;
}
