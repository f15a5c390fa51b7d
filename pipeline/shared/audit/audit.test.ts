import { AUDIT_BATCH_CONTENT_TYPE, type AuditEntry, auditBatches } from './audit';

const entry = (tenantId: string, eventId: string, detail?: string): AuditEntry => ({
  stage: 'EVENT_RECEIVED',
  eventId,
  tenantId,
  ...(detail ? { detail } : {}),
});

describe('audit batches', () => {
  const now = new Date('2026-12-01T10:00:00.000Z');

  it('sends one CloudEvents JSON batch per tenant, keyed by the tenant, entries in order', () => {
    const out = auditBatches([entry('a', 'e1'), entry('b', 'e2'), entry('a', 'e3')], 'hub/test', now);
    expect(out.map((r) => r.key)).toEqual(['a', 'b']);
    for (const r of out) expect(r.headers['content-type']).toBe(AUDIT_BATCH_CONTENT_TYPE);
    const a = JSON.parse(out[0]!.value) as { specversion: string; subject: string; tenantid: string; time: string }[];
    expect(a.map((e) => e.subject)).toEqual(['e1', 'e3']);
    expect(a[0]).toMatchObject({ specversion: '1.0', tenantid: 'a', time: now.toISOString() });
  });

  it('splits a tenant batch at the byte limit, each part valid JSON, nothing lost', () => {
    const entries = Array.from({ length: 20 }, (_, i) => entry('a', `e${i}`, 'x'.repeat(200)));
    const out = auditBatches(entries, 'hub/test', now, 2_000);
    expect(out.length).toBeGreaterThan(1);
    for (const r of out) expect(r.value.length).toBeLessThanOrEqual(2_000);
    const ids = out.flatMap((r) => (JSON.parse(r.value) as { subject: string }[]).map((e) => e.subject));
    expect(ids).toEqual(entries.map((e) => e.eventId));
  });

  it('sends nothing for no entries', () => {
    expect(auditBatches([], 'hub/test', now)).toEqual([]);
  });
});
