/**
 * Issue 20: the operator console in a real browser (Debian's headless Chromium via playwright-core) against the real
 * hub (four processes from dist/, the suite's broker, a fresh database, real subscribers):
 *   - sign in (keyboard only); the overview loads from at most 10 API calls and fits 360 px;
 *   - find a failed delivery, replay it, see it DELIVERED (and the subscriber got it), then its attempts;
 *   - pause and resume a subscription (the subscription-api agrees);
 *   - send a test event (the subscriber got it, signed);
 *   - rotate a secret: the secret shown once is the one deliveries are signed with;
 *   - a tenant key sees none of another tenant's data, neither in the UI nor through the API the UI calls;
 *   - axe-core finds no serious or critical violation on any page.
 * Needs `npm run build` first (npm test does it): the dlt-processor serves dist/console.
 */
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { request } from 'undici';
import { axeViolations, launchChromium } from '../../scripts/console/browser';
import {
  apiUrls,
  configure,
  createTenant,
  produceEvents,
  type RelHub,
  startRelHub,
  type Tenant,
  waitUntil,
} from '../reliability/support/reliability-harness';

jest.setTimeout(240_000);

describe('operator console in a browser (issue 20)', () => {
  let rel: RelHub;
  let browser: Browser;
  let a: Tenant;
  let b: Tenant;
  let keyB: string;
  let consoleUrl: string;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    rel = await startRelHub('console');
    consoleUrl = `${apiUrls(rel.hub).dltApi}/console`;
    [a, b] = await Promise.all([createTenant(rel, ['a']), createTenant(rel, ['b'])]);
    keyB = (await rel.operator.createApiKey({ name: 'console b', role: 'TENANT', tenantId: b.tenantId })).key;
    browser = await launchChromium();
  }, 200_000);
  afterAll(async () => {
    await Promise.all(contexts.map((c) => c.close().catch(() => {})));
    await browser?.close();
    await Promise.all([a, b].filter(Boolean).map((t) => t.stop()));
    await rel?.stop();
  }, 60_000);

  const api = async (key: string, method: 'GET' | 'POST', path: string) => {
    const r = await request(`${apiUrls(rel.hub).dltApi}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}` },
    });
    return { status: r.statusCode, body: (await r.body.json()) as Record<string, unknown> };
  };
  const operatorApi = (method: 'GET' | 'POST', path: string) => api(rel.hub.operatorApiKey, method, path);

  /** A fresh browser tab (own sessionStorage) recording the API calls it makes. */
  const newPage = async (width = 1280) => {
    const context = await browser.newContext({ viewport: { width, height: 900 } });
    contexts.push(context);
    const page = await context.newPage();
    const calls: string[] = [];
    page.on('request', (r) => {
      const u = new URL(r.url());
      if (u.pathname.startsWith('/v1/') || u.pathname.startsWith('/console/api/')) calls.push(u.pathname + u.search);
    });
    return { page, calls };
  };
  const signIn = async (page: Page, key: string) => {
    await page.goto(consoleUrl);
    await page.getByLabel('API key').fill(key);
    await page.getByLabel('API key').press('Enter');
    await page.getByRole('navigation', { name: 'Main' }).waitFor();
  };
  const go = async (page: Page, hash: string) => {
    // Browser-side code as strings: this project's TypeScript has no DOM types.
    await page.evaluate(`location.hash = ${JSON.stringify(hash)}`);
  };
  /** Waits for an element matching `re` and answers its text. */
  const textOf = async (l: Locator, re: RegExp, timeout = 30_000) => {
    const found = l.filter({ hasText: re }).first();
    await found.waitFor({ timeout });
    return (await found.textContent()) ?? '';
  };
  const expectAccessible = async (page: Page, name: string) => {
    const bad = (await axeViolations(page)).filter((v) => v.impact === 'serious' || v.impact === 'critical');
    expect({ page: name, violations: bad }).toEqual({ page: name, violations: [] });
  };

  /** One event to tenant A's endpoint while it fails: waits until its delivery is FAILED, then heals the endpoint. */
  const aFailedDelivery = async () => {
    configure(a.target('a'), { failing: true });
    const stream = produceEvents(rel, a.tenantId, 1, { perSecond: 10 });
    await stream.done;
    const eventId = stream.ids[0]!;
    const row = await waitUntil(
      'the delivery FAILED',
      async () => {
        const page = await operatorApi('GET', `/v1/failed-events?tenantId=${a.tenantId}&status=FAILED`);
        return (page.body.items as { id: string; eventId: string }[]).find((f) => f.eventId === eventId);
      },
      60_000,
      250,
    );
    configure(a.target('a'), { failing: false });
    return { failureId: row.id, eventId };
  };

  it('signs in with the keyboard; the overview loads from at most 10 API calls and fits 360 px', () =>
    rel.withLogs(async () => {
      const { page, calls } = await newPage(360);
      await page.goto(consoleUrl);
      await expectAccessible(page, 'sign-in');
      const wrong = page.getByLabel('API key');
      await wrong.fill('ihk_not-a-key');
      await wrong.press('Enter');
      await textOf(page.getByRole('alert'), /401.*Invalid or revoked API key/s);
      await wrong.fill(rel.hub.operatorApiKey);
      await wrong.press('Enter');
      await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
      await page.getByTestId('count-FAILED').waitFor();
      // The delivery figures (from the ledger) and, for an operator key, every hub consumer group's lag.
      await page.getByTestId('rate').waitFor();
      await page.getByRole('img', { name: /Attempts per minute over the last hour/ }).waitFor();
      await textOf(page.locator('table'), /Records behind/);
      await page.getByRole('button', { name: 'Refresh' }).waitFor();
      // The key is kept in this tab's session storage, never in the URL.
      expect(page.url()).not.toContain(rel.hub.operatorApiKey);
      expect(await page.evaluate("sessionStorage.getItem('hub.apiKey')")).toBe(rel.hub.operatorApiKey);
      expect(calls.length).toBeGreaterThan(0);
      expect(calls.length).toBeLessThanOrEqual(10);
      expect(calls.every((c) => !c.includes(rel.hub.operatorApiKey))).toBe(true);
      // 360 px: nothing wider than the viewport.
      expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(360);
      await expectAccessible(page, 'overview');
      // Keyboard: Tab from the top reaches the main navigation, Enter follows it.
      await page.keyboard.press('Tab');
      await page.keyboard.press('Tab');
      expect(await page.evaluate<string>('document.activeElement?.textContent')).toBe('Overview');
      await page.keyboard.press('Tab');
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { level: 1, name: 'Subscriptions' }).waitFor();
    }));

  it('finds a failed delivery, replays it and sees it DELIVERED, with every attempt on the event page', () =>
    rel.withLogs(async () => {
      const { failureId, eventId } = await aFailedDelivery();
      const { page } = await newPage();
      await signIn(page, rel.hub.operatorApiKey);
      await go(page, '#/failures');
      await page.getByLabel('Status').selectOption('FAILED');
      await page.getByRole('button', { name: 'Apply filters' }).click();
      const row = page.locator(`tr[data-failure="${failureId}"]`);
      await textOf(row, /FAILED/);
      await expectAccessible(page, 'failures');
      await row.getByRole('button', { name: `Replay ${eventId}` }).click();
      await textOf(
        page.getByRole('status'),
        new RegExp(`Replayed ${eventId}: DELIVERED HTTP 2\\d\\d in \\d+ ms;\\s+the failure is now REPLAYED`),
      );
      expect(
        a
          .target('a')
          .receiver.receipts('a')
          .some((r) => r.webhookId === eventId && r.status < 300 && r.signatureValid),
      ).toBe(true);
      // The list shows it resolved (REPLAYED: delivered by a replay), no replay button any more.
      await page.getByLabel('Status').selectOption('');
      await page.getByRole('button', { name: 'Apply filters' }).click();
      await textOf(row, /REPLAYED/);
      expect(await row.getByRole('button').count()).toBe(0);

      // Bulk replay: a dry-run count first (nothing FAILED is left for this filter).
      await page.getByLabel('Subscription id').fill(a.target('a').subscriptionId);
      await page.getByLabel('Status').selectOption('FAILED');
      await page.getByRole('button', { name: 'Apply filters' }).click();
      await page.getByRole('button', { name: 'Count matching (dry run)' }).click();
      await textOf(page.getByRole('status'), /0 failures would be replayed/);

      // The event's page: the delivery with every attempt (the failed ones and the replay), and the audit chain.
      await go(page, `#/events/${eventId}`);
      await page.getByRole('heading', { level: 1, name: `Event ${eventId}` }).waitFor();
      const delivery = page.locator(`article[data-subscription="${a.target('a').subscriptionId}"]`);
      const attempts = delivery.locator('tbody tr');
      // The ledger is written off the hot path: refresh until the replay's attempt is on record.
      await waitUntil(
        'the replay attempt on the event page',
        async () => {
          await page.getByRole('button', { name: 'Refresh' }).click();
          await delivery.waitFor();
          return (
            (await attempts.filter({ hasText: 'REPLAY' }).count()) > 0 &&
            (await delivery.textContent())?.includes('DELIVERED')
          );
        },
        30_000,
        500,
      );
      expect(await attempts.filter({ hasText: '500' }).count()).toBeGreaterThan(0);
      await textOf(page.locator('.chain li'), /EVENT_RECEIVED/);
      await expectAccessible(page, 'event');
      await go(page, '#/events');
      await page.locator('table[aria-label="Events"] tbody tr').first().waitFor();
      await expectAccessible(page, 'events');
    }));

  it('pauses and resumes a subscription', () =>
    rel.withLogs(async () => {
      const id = a.target('a').subscriptionId;
      const { page } = await newPage();
      await signIn(page, rel.hub.operatorApiKey);
      await go(page, '#/subscriptions');
      await page.locator(`tr[data-subscription="${id}"]`).waitFor();
      await expectAccessible(page, 'subscriptions');
      await go(page, `#/subscriptions/${id}`);
      await textOf(page.getByTestId('sub-status'), /ACTIVE/);
      await expectAccessible(page, 'subscription');
      await page.getByRole('button', { name: 'Pause' }).click();
      await textOf(page.getByTestId('sub-status'), /PAUSED/);
      await textOf(page.getByRole('status'), /Paused/);
      expect((await operatorApi('GET', `/console/api/subscriptions/${id}`)).body.status).toBe('PAUSED');
      await page.getByRole('button', { name: 'Resume' }).click();
      await textOf(page.getByTestId('sub-status'), /ACTIVE/);
      expect((await operatorApi('GET', `/console/api/subscriptions/${id}`)).body.status).toBe('ACTIVE');
    }));

  it('rotates a secret: the secret shown once signs the next deliveries', () =>
    rel.withLogs(async () => {
      const id = b.target('b').subscriptionId;
      const { page } = await newPage();
      await signIn(page, keyB);
      await go(page, `#/subscriptions/${id}`);
      await textOf(page.getByTestId('sub-status'), /ACTIVE/);
      await page.getByRole('button', { name: 'Rotate secret' }).click();
      const shown = page.getByTestId('new-secret');
      await shown.waitFor();
      const secret = await shown.inputValue();
      expect(secret).toMatch(/^whsec_/);
      await page.getByRole('button', { name: 'Copy secret' }).waitFor();
      await expectAccessible(page, 'subscription after rotation');
      // The subscriber now verifies with the new secret only: a delivery verifies iff it is signed with it.
      configure(b.target('b'), { secret });
      const stream = produceEvents(rel, b.tenantId, 1, { perSecond: 10 });
      await stream.done;
      const got = await waitUntil(
        'a delivery signed with the new secret',
        () =>
          b
            .target('b')
            .receiver.receipts('b')
            .find((r) => r.webhookId === stream.ids[0]),
        60_000,
      );
      expect(got).toMatchObject({ signatureValid: true });
      expect(got.status).toBeLessThan(300);
      // Shown once: the page does not show it again after a reload.
      await page.reload();
      await textOf(page.getByTestId('sub-status'), /ACTIVE/);
      expect(await page.getByTestId('new-secret').count()).toBe(0);

      // A test event: sent now, signed with the new secret, and the page says what the endpoint answered.
      await page.getByRole('button', { name: 'Send test event' }).click();
      const notice = await textOf(
        page.getByRole('status'),
        /Test event test_\S+ delivered: the endpoint answered 2\d\d/,
      );
      const testId = /Test event (test_\S+) delivered/.exec(notice)![1]!;
      const test = b
        .target('b')
        .receiver.receipts('b')
        .find((r) => r.webhookId === testId);
      expect(test).toMatchObject({ signatureValid: true });
    }));

  it("shows a tenant key none of another tenant's data, in the UI or through the API it calls", () =>
    rel.withLogs(async () => {
      const { failureId, eventId } = await aFailedDelivery();
      const subA = a.target('a').subscriptionId;
      const { page, calls } = await newPage();
      await signIn(page, keyB);
      await textOf(page.getByTestId('tenant'), new RegExp(b.tenantId));
      // No tenant switch for a tenant key.
      expect(await page.getByLabel('Tenant').count()).toBe(0);
      await go(page, '#/failures');
      await page.locator('table[aria-label="Failed deliveries"]').waitFor();
      expect(await page.locator(`tr[data-failure="${failureId}"]`).count()).toBe(0);
      expect(await page.getByText(a.tenantId).count()).toBe(0);
      await go(page, '#/events');
      // B's own events are listed (the list has loaded), A's are not.
      await page.locator('table[aria-label="Events"] tbody tr a').first().waitFor();
      expect(await page.getByText(eventId).count()).toBe(0);
      await go(page, '#/subscriptions');
      await page.locator(`tr[data-subscription="${b.target('b').subscriptionId}"]`).waitFor();
      expect(await page.locator(`tr[data-subscription="${subA}"]`).count()).toBe(0);
      // A's ids typed in: not found, as ids that do not exist.
      await go(page, `#/events/${eventId}`);
      await textOf(page.getByRole('alert'), /404/);
      await go(page, `#/subscriptions/${subA}`);
      await textOf(page.getByRole('alert'), /404/);
      // The calls the UI made named no other tenant; the same API answers B's key 403/404 for A's data.
      expect(calls.filter((c) => c.includes(a.tenantId))).toEqual([]);
      expect((await api(keyB, 'GET', `/v1/failed-events?tenantId=${a.tenantId}`)).status).toBe(403);
      expect((await api(keyB, 'GET', `/v1/failed-events/${failureId}`)).status).toBe(404);
      expect((await api(keyB, 'POST', `/v1/failed-events/${failureId}/replay`)).status).toBe(404);
      expect((await api(keyB, 'GET', `/v1/events/${eventId}`)).status).toBe(404);
      expect((await api(keyB, 'GET', `/console/api/subscriptions/${subA}`)).status).toBe(404);
      expect((await api(keyB, 'POST', `/console/api/subscriptions/${subA}/pause`)).status).toBe(404);
      const listed = (await api(keyB, 'GET', '/console/api/subscriptions')).body.items as { tenantId: string }[];
      expect(listed.length).toBeGreaterThan(0);
      expect(listed.every((s) => s.tenantId === b.tenantId)).toBe(true);
    }));
});
