/**
 * Inbound sources over REST on real Postgres (issue 19, step 1): create per scheme with its defaults, the secret shown
 * once and stored sealed, the URL the vendor calls, tenant scoping (404 for another tenant's source, 403 for naming
 * another tenant), PATCH, rotate-secret with the overlap window, delete, and the change audit written with each change.
 */
import { randomUUID } from 'node:crypto';
import { type Harness, INBOUND_BASE_URL, startHarness } from './harness';

jest.setTimeout(60_000);

describe('inbound sources (subscription-api REST)', () => {
  let h: Harness;
  const tenant = `acme-${randomUUID().slice(0, 6)}`;
  const other = `globex-${randomUUID().slice(0, 6)}`;
  let acmeKey: string;
  let globexKey: string;

  beforeAll(async () => {
    h = await startHarness({ relay: false });
    acmeKey = await h.tenantKey(tenant);
    globexKey = await h.tenantKey(other);
  });
  afterAll(() => h?.close());

  it('creates a GitHub source with the scheme defaults, shows the secret once and stores it sealed', async () => {
    const res = await h.as(acmeKey).post('/v1/inbound-sources', { name: 'gh', verification: { scheme: 'GITHUB' } });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body).toMatchObject({
      tenantId: tenant,
      name: 'gh',
      url: `${INBOUND_BASE_URL}/v1/inbound/${body.id}`,
      verification: { scheme: 'GITHUB' },
      secret: { set: true, previousSecretExpiresAt: null, value: expect.stringMatching(/^[0-9a-f]{64}$/) },
      allowedCidrs: [],
      dedupe: { header: 'X-GitHub-Delivery' },
      mapping: {
        eventType: { header: 'X-GitHub-Event' },
        resourceType: { value: 'WEBHOOK' },
        operationType: { value: 'RECEIVED' },
        sourceService: { value: 'github' },
      },
      version: 1,
    });
    expect(res.headers.location).toBe(`/v1/inbound-sources/${body.id}`);

    const row = await h.db.prisma.inboundSource.findUniqueOrThrow({ where: { id: body.id } });
    const sealed = (row.secrets as { current: string }).current;
    expect(JSON.stringify(row)).not.toContain(body.secret.value);
    expect(h.box.open(sealed, body.id)).toBe(body.secret.value);

    const got = await h.as(acmeKey).get(`/v1/inbound-sources/${body.id}`);
    expect(got.statusCode).toBe(200);
    expect(got.json().secret).toEqual({ set: true, previousSecretExpiresAt: null });
    expect(got.body).not.toContain(body.secret.value);
    expect(h.logs.join('\n')).not.toContain(body.secret.value);
  });

  it('takes a given secret, settings of HMAC_SHA256, and refuses what cannot work with field errors', async () => {
    const acme = h.as(acmeKey);
    const hmac = await acme.post('/v1/inbound-sources', {
      name: 'crm',
      verification: {
        scheme: 'HMAC_SHA256',
        header: 'X-Signature',
        encoding: 'base64',
        prefix: 'sha256=',
        secret: 's3cret-value',
      },
      mapping: { eventType: { jsonPointer: '/event' }, resourceType: { value: 'CONTACT' } },
      dedupe: { jsonPointer: '/deliveryId' },
    });
    expect(hmac.statusCode).toBe(201);
    expect(hmac.json()).toMatchObject({
      verification: { scheme: 'HMAC_SHA256', header: 'X-Signature', encoding: 'base64', prefix: 'sha256=' },
      secret: { value: 's3cret-value' },
      dedupe: { jsonPointer: '/deliveryId' },
      mapping: { eventType: { jsonPointer: '/event' }, resourceType: { value: 'CONTACT' } },
    });

    const refusals: [object, string][] = [
      [{ name: 'open', verification: { scheme: 'NONE' } }, 'allowedCidrs'],
      [{ name: 'x', verification: { scheme: 'BEARER' } }, 'mapping.eventType'],
      [{ name: 'x', verification: { scheme: 'GITHUB' }, allowedCidrs: ['10.0.0.0/33'] }, 'allowedCidrs.0'],
      [{ name: 'x', verification: { scheme: 'STANDARD_WEBHOOKS', secret: 'not-base64!!' } }, 'verification.secret'],
      [{ name: 'x', verification: { scheme: 'GITHUB' }, dedupe: { jsonPointer: 'id' } }, 'dedupe'],
      [{ name: 'x', verification: { scheme: 'KERBEROS' } }, 'verification.scheme'],
    ];
    for (const [body, path] of refusals) {
      const res = await acme.post('/v1/inbound-sources', body);
      expect({ status: res.statusCode, type: res.headers['content-type'] }).toEqual({
        status: 400,
        type: expect.stringMatching(/problem\+json/),
      });
      expect(JSON.stringify(res.json().errors)).toContain(path);
    }

    const none = await acme.post('/v1/inbound-sources', {
      name: 'allow-listed',
      verification: { scheme: 'NONE' },
      allowedCidrs: ['192.30.252.0/22', '2001:db8::/32'],
      mapping: { eventType: { value: 'crm.changed' } },
    });
    expect(none.statusCode).toBe(201);
    expect(none.json().secret).toEqual({ set: false, previousSecretExpiresAt: null, value: null });
  });

  it('is tenant-scoped: 404 for another tenant, 403 for naming one, operators name the tenant', async () => {
    const created = await h
      .as(acmeKey)
      .post('/v1/inbound-sources', { name: 'stripe', verification: { scheme: 'STRIPE' } });
    const id = created.json().id as string;
    const globex = h.as(globexKey);
    for (const res of [
      await globex.get(`/v1/inbound-sources/${id}`),
      await globex.patch(`/v1/inbound-sources/${id}`, { name: 'mine now' }),
      await globex.post(`/v1/inbound-sources/${id}/rotate-secret`, {}),
      await globex.del(`/v1/inbound-sources/${id}`),
    ]) {
      expect(res.statusCode).toBe(404);
    }
    expect((await globex.get('/v1/inbound-sources')).json().items).toEqual([]);
    expect((await globex.get(`/v1/inbound-sources?tenantId=${tenant}`)).statusCode).toBe(403);
    expect(
      (await globex.post('/v1/inbound-sources', { tenantId: tenant, name: 'x', verification: { scheme: 'GITHUB' } }))
        .statusCode,
    ).toBe(403);
    expect((await h.op.post('/v1/inbound-sources', { name: 'x', verification: { scheme: 'GITHUB' } })).statusCode).toBe(
      400,
    );
    const byOperator = await h.op.post('/v1/inbound-sources', {
      tenantId: other,
      name: 'slack',
      verification: { scheme: 'SLACK' },
    });
    expect(byOperator.json()).toMatchObject({ tenantId: other, dedupe: { jsonPointer: '/event_id' } });
    const acmeList = (await h.as(acmeKey).get('/v1/inbound-sources')).json().items as { tenantId: string }[];
    expect(acmeList.length).toBeGreaterThan(0);
    expect(acmeList.every((s) => s.tenantId === tenant)).toBe(true);
    expect(await h.as(acmeKey).get(`/v1/inbound-sources/${byOperator.json().id}`)).toMatchObject({ statusCode: 404 });
  });

  it('patches settings, rotates with an overlap window, deletes, and audits each change in its transaction', async () => {
    const acme = h.as(acmeKey);
    const created = await acme.post('/v1/inbound-sources', {
      name: 'sw',
      verification: { scheme: 'STANDARD_WEBHOOKS' },
      mapping: { resourceType: { value: 'ORDER' } },
    });
    const id = created.json().id as string;
    const first = created.json().secret.value as string;
    expect(first).toMatch(/^whsec_/);

    const patched = await acme.patch(`/v1/inbound-sources/${id}`, {
      name: 'sw2',
      verification: { scheme: 'STANDARD_WEBHOOKS', toleranceSeconds: 60 },
      mapping: { operationType: { jsonPointer: '/op' } },
      allowedCidrs: ['127.0.0.1/32'],
    });
    expect(patched.statusCode).toBe(200);
    expect(patched.json()).toMatchObject({
      name: 'sw2',
      version: 2,
      verification: { scheme: 'STANDARD_WEBHOOKS', toleranceSeconds: 60 },
      mapping: { resourceType: { value: 'ORDER' }, operationType: { jsonPointer: '/op' } },
    });
    const schemeChange = await acme.patch(`/v1/inbound-sources/${id}`, { verification: { scheme: 'GITHUB' } });
    expect(schemeChange.statusCode).toBe(400);

    const rotated = await acme.post(`/v1/inbound-sources/${id}/rotate-secret`, {});
    expect(rotated.statusCode).toBe(200);
    const { secret: second, previousSecretExpiresAt, version } = rotated.json();
    expect(second).toMatch(/^whsec_/);
    expect(second).not.toBe(first);
    expect(Date.parse(previousSecretExpiresAt) - Date.now()).toBeGreaterThan(23 * 3600_000);
    expect(version).toBe(3);
    const row = await h.db.prisma.inboundSource.findUniqueOrThrow({ where: { id } });
    const secrets = row.secrets as { current: string; previous: string };
    expect([h.box.open(secrets.current, id), h.box.open(secrets.previous, id)]).toEqual([second, first]);
    expect((await acme.get(`/v1/inbound-sources/${id}`)).json().secret).toEqual({
      set: true,
      previousSecretExpiresAt,
    });

    const given = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
    const rotatedTo = await acme.post(`/v1/inbound-sources/${id}/rotate-secret`, { secret: given });
    expect(rotatedTo.json().secret).toBe(given);

    expect((await acme.del(`/v1/inbound-sources/${id}`)).statusCode).toBe(204);
    expect((await acme.get(`/v1/inbound-sources/${id}`)).statusCode).toBe(404);

    const audit = await h.db.prisma.changeAudit.findMany({
      where: { resourceType: 'inbound_source', resourceId: id },
      orderBy: { id: 'asc' },
    });
    expect(audit.map((a) => [a.action, a.version, a.tenantId])).toEqual([
      ['inbound_source.created', 1, tenant],
      ['inbound_source.updated', 2, tenant],
      ['inbound_source.secret_rotated', 3, tenant],
      ['inbound_source.secret_rotated', 4, tenant],
      ['inbound_source.deleted', 4, tenant],
    ]);
    expect(audit[1]!.changedFields).toEqual([
      'allowedCidrs',
      'mapping.operationType',
      'name',
      'verification.toleranceSeconds',
    ]);
    expect(audit[2]!.changedFields).toEqual(['secrets.current', 'secrets.previous', 'secrets.previousExpiresAt']);
    expect(JSON.stringify(audit.map((a) => a.changedFields))).not.toContain(first);
    // The refused scheme change wrote nothing.
    expect(audit.filter((a) => a.action === 'inbound_source.updated')).toHaveLength(1);
  });
});
