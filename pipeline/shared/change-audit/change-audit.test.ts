import { actorOf, apiKeyAuditEntry, BOOTSTRAP_ACTOR, decodeAuditCursor, encodeAuditCursor } from './change-audit';

describe('change audit', () => {
  it('the actor of a request is its key id and name with the request id', () => {
    expect(actorOf({ keyId: 'k1', role: 'TENANT', tenantId: 'acme', name: 'ci' }, 'req-7')).toEqual({
      keyId: 'k1',
      name: 'ci',
      requestId: 'req-7',
    });
    expect(actorOf({ keyId: 'k2', role: 'OPERATOR' })).toEqual({ keyId: 'k2', name: null, requestId: null });
  });

  it('API keys: a tenant key belongs to its tenant, an operator key is global; no key material is named', () => {
    expect(apiKeyAuditEntry('api_key.created', { id: 'key-1', tenantId: 'acme' }, BOOTSTRAP_ACTOR)).toEqual({
      tenantId: 'acme',
      actor: BOOTSTRAP_ACTOR,
      action: 'api_key.created',
      resourceType: 'api_key',
      resourceId: 'key-1',
      version: null,
      changedFields: ['name', 'role', 'tenantId'],
    });
    expect(apiKeyAuditEntry('api_key.created', { id: 'key-2', tenantId: null }).changedFields).toEqual([
      'name',
      'role',
    ]);
    expect(apiKeyAuditEntry('api_key.revoked', { id: 'key-2', tenantId: null })).toMatchObject({
      tenantId: null,
      changedFields: ['revokedAt'],
      actor: { keyId: 'system' },
    });
  });

  it('cursors round-trip and anything else is refused', () => {
    expect(decodeAuditCursor(encodeAuditCursor('12345'))).toBe('12345');
    for (const bad of ['', 'nope', Buffer.from('{"before":"0"}').toString('base64url'), encodeAuditCursor('1; DROP')])
      expect(decodeAuditCursor(bad)).toBeUndefined();
  });
});
