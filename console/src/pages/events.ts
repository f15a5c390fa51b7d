/**
 * Events: search the delivery ledger by id, type and time (the tenant from the header); an event's page shows its
 * audit chain and, per subscription, the delivery with every attempt (time, status, duration, error, response).
 */
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { get, post } from '../api';
import type { DeliveryDetail, EventDetail, LedgerEvent, Page, PageProps } from '../types';
import { DetailHead, Field, ListView, localToIso, Notice, Problem, Status, Time, useLoad, usePager } from '../ui';

export function EventsPage(props: PageProps) {
  const id = props.route[1];
  return id ? html`<${EventPage} eventId=${id} />` : html`<${EventSearch} ...${props} />`;
}

function EventSearch({ tenant }: PageProps) {
  const [eventId, setEventId] = useState('');
  const [type, setType] = useState('');
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [applied, setApplied] = useState({ type, from, to });
  const pager = usePager();
  const list = useLoad(
    () =>
      get<Page<LedgerEvent>>('/v1/events', {
        tenantId: tenant,
        type: applied.type || undefined,
        from: localToIso(applied.from),
        to: localToIso(applied.to),
        limit: 25,
        cursor: pager.cursor,
      }),
    [tenant, JSON.stringify(applied), pager.cursor],
  );
  return html`<h1 tabindex="-1">Events${tenant ? html` <small>tenant ${tenant}</small>` : null}</h1>
    <form class="filters" aria-label="Open an event by id" onSubmit=${(e: Event) => {
      e.preventDefault();
      if (eventId.trim()) location.hash = `#/events/${encodeURIComponent(eventId.trim())}`;
    }}>
      <${Field} label="Event id" name="eventId" value=${eventId} onInput=${setEventId} />
      <div class="field actions"><button type="submit">Open event</button></div>
    </form>
    <form class="filters" aria-label="Search events" onSubmit=${(e: Event) => {
      e.preventDefault();
      pager.reset();
      setApplied({ type, from, to });
    }}>
      <${Field} label="Type" name="type" value=${type} onInput=${setType} placeholder="e.g. com.example.user.created" />
      <${Field} label="Received from" name="from" type="datetime-local" value=${from} onInput=${setFrom} />
      <${Field} label="Received before" name="to" type="datetime-local" value=${to} onInput=${setTo} />
      <div class="field actions"><button type="submit">Search</button></div>
    </form>
    <${ListView}
      label="Events"
      what="events"
      loaded=${list}
      pager=${pager}
      head=${['Event', 'Type', tenant ? null : 'Tenant', 'Subscriptions', 'Received']}
      row=${(e: LedgerEvent) => html`<tr>
        <td><a href=${`#/events/${encodeURIComponent(e.eventId)}`}><code>${e.eventId}</code></a></td>
        <td>${e.type}</td>${tenant ? null : html`<td>${e.tenantId}</td>`}
        <td class="num">${e.fanOut}</td><td><${Time} iso=${e.receivedAt} /></td>
      </tr>`}
    />`;
}

function EventPage({ eventId }: { eventId: string }) {
  const ev = useLoad(async () => {
    const e = await get<EventDetail>(`/v1/events/${encodeURIComponent(eventId)}`);
    // One call per subscription the event went to (usually a handful): every attempt of each delivery.
    const deliveries = await Promise.all(
      e.subscriptions.map((d) =>
        get<DeliveryDetail>(
          `/v1/deliveries/${encodeURIComponent(eventId)}/${encodeURIComponent(d.subscriptionId)}`,
        ).catch(() => ({ ...d, deliveryAttempts: [] })),
      ),
    );
    return { e, deliveries };
  }, [eventId]);
  const [notice, setNotice] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const replay = async (subscriptionId: string) => {
    setError(null);
    setNotice(null);
    try {
      const r = await post<{
        results: { sent: boolean; delivered: boolean; status: string | null; reason: string | null }[];
      }>(`/v1/events/${encodeURIComponent(eventId)}/replay`, { subscriptionId });
      const x = r.results[0];
      setNotice(
        x
          ? `Replay ${x.sent ? (x.delivered ? 'delivered' : `sent, not delivered (${x.status})`) : `not sent: ${x.reason ?? x.status}`}`
          : 'Nothing to replay',
      );
      ev.reload();
    } catch (err) {
      setError(err);
    }
  };
  const d = ev.data;
  return html`<${DetailHead} back="#/events" backLabel="Events" title="Event" id=${eventId} loaded=${ev} what="the event" />
    ${
      d
        ? html`
      <dl class="facts">
        <div><dt>Type</dt><dd>${d.e.type}</dd></div>
        <div><dt>Tenant</dt><dd>${d.e.tenantId}</dd></div>
        <div><dt>Source</dt><dd>${d.e.source}</dd></div>
        <div><dt>Subject</dt><dd>${d.e.subject ?? '—'}</dd></div>
        <div><dt>Received</dt><dd><${Time} iso=${d.e.receivedAt} /></dd></div>
        <div><dt>Trace</dt><dd><code>${d.e.traceId ?? '—'}</code></dd></div>
      </dl>
      ${notice ? html`<${Notice} kind="ok">${notice}<//>` : null}
      <${Problem} error=${error} />
      <section aria-labelledby="deliveries-h">
        <h2 id="deliveries-h">Deliveries</h2>
        ${d.deliveries.length === 0 ? html`<p class="muted">No subscription matched this event.</p>` : null}
        ${d.deliveries.map(
          (x) => html`<article class="delivery" data-subscription=${x.subscriptionId}>
            <h3><a href=${`#/subscriptions/${encodeURIComponent(x.subscriptionId)}`}><code>${x.subscriptionId}</code></a> <${Status} s=${x.status} /></h3>
            ${x.reason ? html`<p class="muted">${x.reason}</p>` : null}
            <div class="scroll"><table aria-label=${`Attempts to ${x.subscriptionId}`}>
              <thead><tr><th scope="col">#</th><th scope="col">Time</th><th scope="col">Source</th><th scope="col">Status</th><th scope="col">Duration</th><th scope="col">Error</th><th scope="col">Response</th></tr></thead>
              <tbody>${x.deliveryAttempts.map(
                (a) => html`<tr>
                  <td class="num">${a.attempt}</td><td><${Time} iso=${a.attemptedAt} /></td><td>${a.source}</td>
                  <td>${a.statusCode ?? '—'}</td><td class="num">${a.durationMs} ms</td><td>${a.errorCode ?? ''}</td>
                  <td><code class="snippet">${a.responseSnippet ?? ''}</code></td>
                </tr>`,
              )}</tbody>
            </table></div>
            <button type="button" onClick=${() => replay(x.subscriptionId)}>Replay to this subscription</button>
          </article>`,
        )}
      </section>
      <section aria-labelledby="chain-h">
        <h2 id="chain-h">Audit chain</h2>
        <ol class="chain">${d.e.chain.map(
          (c) => html`<li><${Time} iso=${c.at} /> <strong>${c.stage}</strong>
            ${c.matches !== undefined ? ` ${c.matches} subscription(s) matched` : ''}
            ${c.subscriptionId ? html` → <code title=${c.subscriptionId}>…${c.subscriptionId.slice(-8)}</code>` : null}
            ${c.statusCode !== undefined && c.statusCode !== null ? ` HTTP ${c.statusCode}` : ''}
            ${c.errorCode ? ` ${c.errorCode}` : ''}${c.status ? ` ${c.status}` : ''}${c.reason ? ` (${c.reason})` : ''}</li>`,
        )}</ol>
      </section>
      <details><summary>Attributes and data</summary>
        <pre>${JSON.stringify(d.e.attributes, null, 2)}</pre>
        <pre>${d.e.data}</pre>
      </details>`
        : null
    }`;
}
