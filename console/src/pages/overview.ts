/**
 * Overview: failure counts by status, the oldest unresolved failure's age, held deliveries, blocked lanes; deliveries
 * per minute over the last hour with the current rate and error rate, and consumer lag for operators (3 calls).
 */
import { html } from 'htm/preact';
import { get } from '../api';
import type { Lane, OverviewFigures, PageProps, Stats } from '../types';
import { age, Loading, Problem, Status, useLoad } from '../ui';

const ORDER = ['PENDING', 'RETRYING', 'HELD', 'FAILED', 'DELIVERED', 'REPLAYED', 'SKIPPED'];

export function OverviewPage({ tenant }: PageProps) {
  const stats = useLoad(() => get<Stats>('/v1/failed-events/stats', { tenantId: tenant }), [tenant]);
  const lanes = useLoad(() => get<{ items: Lane[] }>('/v1/lanes', { tenantId: tenant, limit: 100 }), [tenant]);
  const figures = useLoad(() => get<OverviewFigures>('/v1/stats/overview', { tenantId: tenant }), [tenant]);
  const s = stats.data;
  const unresolved = s ? ['PENDING', 'RETRYING', 'HELD', 'FAILED'].reduce((n, k) => n + (s.byStatus[k] ?? 0), 0) : 0;
  return html`<h1 tabindex="-1">Overview${tenant ? html` <small>tenant ${tenant}</small>` : null}</h1>
    <${Problem} error=${stats.error} />
    ${stats.loading && !s ? html`<${Loading} what="figures" />` : null}
    ${
      s
        ? html`<section aria-labelledby="kpi-h">
        <h2 id="kpi-h">Failed deliveries</h2>
        <dl class="kpis">
          <div><dt>Unresolved</dt><dd data-testid="unresolved">${unresolved}</dd></div>
          <div><dt>Oldest unresolved failure</dt><dd data-testid="oldest">${age(s.oldestUnresolvedAgeSeconds)}</dd></div>
          <div><dt>Held (paused subscriptions)</dt><dd data-testid="held">${s.byStatus.HELD ?? 0}</dd></div>
          <div><dt>Blocked ordered lanes</dt><dd>${lanes.data ? lanes.data.items.length : '…'}</dd></div>
        </dl>
        <h2>By status</h2>
        <table class="bars">
          <caption class="sr-only">Failed deliveries by status</caption>
          <thead><tr><th scope="col">Status</th><th scope="col">Count</th><th scope="col"><span class="sr-only">Share</span></th></tr></thead>
          <tbody>
            ${ORDER.map((k) => {
              const n = s.byStatus[k] ?? 0;
              const max = Math.max(1, ...Object.values(s.byStatus));
              return html`<tr>
                <th scope="row"><a href=${`#/failures/status/${k}`}><${Status} s=${k} /></a></th>
                <td class="num" data-testid=${`count-${k}`}>${n}</td>
                <td class="bar-cell"><meter min="0" max=${max} value=${n} aria-label=${`${k}: ${n}`}></meter></td>
              </tr>`;
            })}
          </tbody>
        </table>
      </section>`
        : null
    }
    <${Problem} error=${figures.error} />
    ${figures.data ? html`<${Deliveries} f=${figures.data} />` : null}
    <${Problem} error=${lanes.error} />
    ${
      lanes.data?.items.length
        ? html`<section aria-labelledby="lanes-h">
        <h2 id="lanes-h">Blocked ordered lanes</h2>
        <div class="scroll"><table>
          <thead><tr><th scope="col">Subscription</th><th scope="col">Tenant</th><th scope="col">Waiting</th><th scope="col">Head</th></tr></thead>
          <tbody>${lanes.data.items.map(
            (l) => html`<tr>
              <td><a href=${`#/subscriptions/${encodeURIComponent(l.subscriptionId)}`}><code>${l.subscriptionId}</code></a></td>
              <td>${l.tenantId}</td><td class="num">${l.waiting}</td>
              <td><a href=${`#/events/${encodeURIComponent(l.head.eventId)}`}><code>${l.head.eventId}</code></a> <${Status} s=${l.head.status} /></td>
            </tr>`,
          )}</tbody>
        </table></div>
      </section>`
        : null
    }
    <p><button type="button" onClick=${() => {
      stats.reload();
      lanes.reload();
    }}>Refresh</button></p>`;
}

/** The last hour's attempts per minute as a bar chart (inline SVG), the current rate, error rate and lag. */
function Deliveries({ f }: { f: OverviewFigures }) {
  const max = Math.max(1, ...f.minutes.map((m) => m.delivered + m.failed));
  const w = 4;
  const h = 60;
  const total = f.minutes.reduce((n, m) => n + m.delivered + m.failed, 0);
  const failed = f.minutes.reduce((n, m) => n + m.failed, 0);
  return html`<section aria-labelledby="rate-h">
    <h2 id="rate-h">Deliveries</h2>
    <dl class="kpis">
      <div><dt>Delivered per second (last 5 min)</dt><dd data-testid="rate">${f.deliveriesPerSecond}</dd></div>
      <div><dt>Error rate (last 5 min)</dt><dd data-testid="error-rate">${(f.errorRate * 100).toFixed(1)} %</dd></div>
      <div><dt>Attempts in the last hour</dt><dd>${total} (${failed} failed)</dd></div>
    </dl>
    <figure>
      <svg role="img" aria-label=${`Attempts per minute over the last hour: ${total} in all, ${failed} failed`} viewBox=${`0 0 ${f.minutes.length * w} ${h}`} width="100%" height=${h} preserveAspectRatio="none">
        ${f.minutes.map((m, i) => {
          const ok = (m.delivered / max) * h;
          const bad = (m.failed / max) * h;
          return html`<g><title>${`${new Date(m.at).toLocaleTimeString()}: ${m.delivered} delivered, ${m.failed} failed`}</title>
            <rect class="ok" x=${i * w} y=${h - ok} width=${w - 1} height=${ok} />
            <rect class="bad" x=${i * w} y=${h - ok - bad} width=${w - 1} height=${bad} /></g>`;
        })}
      </svg>
      <figcaption>Attempts per minute, last hour (failed on top)</figcaption>
    </figure>
    ${
      f.lag
        ? html`<h2>Consumer lag</h2>
      <div class="scroll"><table>
        <caption class="sr-only">Records behind per consumer group</caption>
        <thead><tr><th scope="col">Consumer group</th><th scope="col">Records behind</th></tr></thead>
        <tbody>${f.lag.map((g) => html`<tr><td><code>${g.groupId}</code></td><td class="num">${g.lag}</td></tr>`)}</tbody>
      </table></div>`
        : null
    }
  </section>`;
}
