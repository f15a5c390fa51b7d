/**
 * Failures: the failed-deliveries table filtered by status, subscription, type and time, one page at a time.
 * Replay one (the answer says DELIVERED or why not); bulk replay asks for a dry-run count first, then shows the
 * job's progress until it ends.
 */
import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { get, post } from '../api';
import type { Failure, Page, PageProps, ReplayJob, ReplayOne } from '../types';
import { Field, ListView, localToIso, Notice, Problem, Status, Time, useLoad, usePager } from '../ui';

const STATUSES = ['PENDING', 'RETRYING', 'HELD', 'FAILED', 'DELIVERED', 'REPLAYED', 'SKIPPED'];

export function FailuresPage({ tenant, route }: PageProps) {
  const [status, setStatus] = useState(route[1] === 'status' ? (route[2] ?? '') : '');
  const [subscriptionId, setSubscriptionId] = useState('');
  const [eventType, setEventType] = useState('');
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [applied, setApplied] = useState({ status, subscriptionId, eventType, from, to });
  const pager = usePager();
  const filter = {
    tenantId: tenant,
    status: applied.status || undefined,
    subscriptionId: applied.subscriptionId || undefined,
    eventType: applied.eventType || undefined,
    from: localToIso(applied.from),
    to: localToIso(applied.to),
  };
  const list = useLoad(
    () => get<Page<Failure>>('/v1/failed-events', { ...filter, limit: 25, cursor: pager.cursor }),
    [tenant, JSON.stringify(applied), pager.cursor],
  );
  const [actionError, setActionError] = useState<unknown>(null);
  const [result, setResult] = useState<ReplayOne | null>(null);
  const [busy, setBusy] = useState<string | null>(null);

  const replay = async (f: Failure) => {
    setBusy(f.id);
    setActionError(null);
    setResult(null);
    try {
      setResult(await post<ReplayOne>(`/v1/failed-events/${encodeURIComponent(f.id)}/replay`));
      list.reload();
    } catch (err) {
      setActionError(err);
    } finally {
      setBusy(null);
    }
  };

  return html`<h1 tabindex="-1">Failures${tenant ? html` <small>tenant ${tenant}</small>` : null}</h1>
    <form class="filters" aria-label="Filter failures" onSubmit=${(e: Event) => {
      e.preventDefault();
      pager.reset();
      setApplied({ status, subscriptionId, eventType, from, to });
    }}>
      <${Field} label="Status" name="status" value=${status} onInput=${setStatus} options=${STATUSES} />
      <${Field} label="Subscription id" name="subscriptionId" value=${subscriptionId} onInput=${setSubscriptionId} />
      <${Field} label="Event type" name="eventType" value=${eventType} onInput=${setEventType} />
      <${Field} label="Failed from" name="from" type="datetime-local" value=${from} onInput=${setFrom} />
      <${Field} label="Failed before" name="to" type="datetime-local" value=${to} onInput=${setTo} />
      <div class="field actions"><button type="submit">Apply filters</button></div>
    </form>
    <${BulkReplay} filter=${filter} onDone=${list.reload} />
    ${
      result
        ? html`<${Notice} kind=${result.delivered ? 'ok' : 'info'}>
          Replayed <code>${result.eventId}</code>: <${Status} s=${result.delivered ? 'DELIVERED' : 'NOT DELIVERED'} />
          ${result.statusCode ? ` HTTP ${result.statusCode}` : ''}${result.errorCode ? ` ${result.errorCode}` : ''} in ${result.durationMs} ms;
          the failure is now <${Status} s=${result.status} />
          ${result.reason ? html`<br />${result.reason}` : null}
        <//>`
        : null
    }
    <${Problem} error=${actionError} />
    <${ListView}
      label="Failed deliveries"
      what="failures"
      loaded=${list}
      pager=${pager}
      head=${['Event', 'Status', 'Type', 'Subscription', tenant ? null : 'Tenant', 'Attempts', 'Last error', 'Last failed', '']}
      row=${(f: Failure) => html`<tr data-failure=${f.id}>
        <td><a href=${`#/events/${encodeURIComponent(f.eventId)}`}><code>${f.eventId}</code></a></td>
        <td><${Status} s=${f.status} /></td>
        <td>${f.eventType ?? '—'}</td>
        <td><a href=${`#/subscriptions/${encodeURIComponent(f.subscriptionId)}`} title=${f.subscriptionId}><code>…${f.subscriptionId.slice(-8)}</code></a></td>
        ${tenant ? null : html`<td>${f.tenantId}</td>`}
        <td class="num">${f.attempts}</td>
        <td>${f.lastStatusCode ?? ''} ${f.lastErrorCode ?? ''}${f.reason ? html`<br /><small class="muted">${f.reason}</small>` : null}</td>
        <td><${Time} iso=${f.lastFailedAt} /></td>
        <td>${
          f.resolvedAt
            ? null
            : html`<button type="button" disabled=${busy === f.id} aria-label=${`Replay ${f.eventId}`}
                onClick=${() => replay(f)}>${busy === f.id ? 'Replaying…' : 'Replay'}</button>`
        }</td>
      </tr>`}
    />`;
}

/** Bulk replay: dry-run count, then confirm, then the job's progress (polled once a second). */
function BulkReplay({ filter, onDone }: { filter: Record<string, string | undefined>; onDone: () => void }) {
  const [count, setCount] = useState<number | null>(null);
  const [job, setJob] = useState<ReplayJob | null>(null);
  const [error, setError] = useState<unknown>(null);
  const body = Object.fromEntries(Object.entries(filter).filter(([, v]) => v !== undefined));
  const key = JSON.stringify(body);
  useEffect(() => setCount(null), [key]);
  useEffect(() => {
    if (job?.status !== 'RUNNING') return;
    const t = setTimeout(async () => {
      try {
        const j = await get<ReplayJob>(`/v1/replay-jobs/${encodeURIComponent(job.id)}`);
        setJob(j);
        if (j.status !== 'RUNNING') onDone();
      } catch (err) {
        setError(err);
      }
    }, 1000);
    return () => clearTimeout(t);
  }, [job]);
  const run = async (dryRun: boolean) => {
    setError(null);
    try {
      if (dryRun) setCount((await post<{ count: number }>('/v1/failed-events/replay', { ...body, dryRun })).count);
      else {
        setCount(null);
        setJob(await post<ReplayJob>('/v1/failed-events/replay', body));
      }
    } catch (err) {
      setError(err);
    }
  };
  return html`<section class="bulk" aria-labelledby="bulk-h">
    <h2 id="bulk-h">Bulk replay</h2>
    <p class="muted">Replays the failures matching the filters above (FAILED ones unless a status is chosen).</p>
    <button type="button" onClick=${() => run(true)}>Count matching (dry run)</button>
    ${
      count !== null
        ? html`<span role="status"> ${count} failure${count === 1 ? '' : 's'} would be replayed. </span>
          <button type="button" disabled=${count === 0} onClick=${() => run(false)}>Replay ${count}</button>`
        : null
    }
    ${
      job
        ? html`<div role="status" class="job">
          <label for="bulk-progress">Replay job ${job.status.toLowerCase()}: ${job.processed} of ${job.total}
            (${job.succeeded} delivered, ${job.failed} failed)</label>
          <progress id="bulk-progress" max=${Math.max(job.total, 1)} value=${job.processed}></progress>
          ${job.error ? html`<p>${job.error}</p>` : null}
        </div>`
        : null
    }
    <${Problem} error=${error} />
  </section>`;
}
