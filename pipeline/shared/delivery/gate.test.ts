import { aSnapshot } from '../../../test/fixtures/subscriptions';
import { memoryDirectory } from '../subscriptions/directory';
import { admit, gateEndpointCheck } from './gate';

describe('delivery gate', () => {
  const directory = memoryDirectory([
    aSnapshot({ id: 'active' }),
    aSnapshot({ id: 'paused', status: 'PAUSED' }),
    aSnapshot({ id: 'metadata', endpointUrl: 'http://169.254.169.254/latest/meta-data' }),
  ]);
  const deps = { directory, endpointRejection: gateEndpointCheck(['127.0.0.1']) };

  it('admits an active subscription of the record tenant', () => {
    expect(admit(deps, { subscriptionId: 'active', tenantId: 'tenant-a' })).toMatchObject({ type: 'admit' });
  });
  it('holds a paused one (delivered on resume)', () => {
    expect(admit(deps, { subscriptionId: 'paused', tenantId: 'tenant-a' })).toMatchObject({ type: 'hold' });
  });
  it('refuses a record naming another tenant’s subscription, before looking at its status', () => {
    expect(admit(deps, { subscriptionId: 'paused', tenantId: 'tenant-b' })).toMatchObject({
      type: 'refuse',
      code: 'GATE.TENANT_MISMATCH',
    });
  });
  it('refuses an unknown or deleted subscription', () => {
    expect(admit(deps, { subscriptionId: 'gone', tenantId: 'tenant-a' })).toMatchObject({
      type: 'refuse',
      code: 'GATE.SUBSCRIPTION_GONE',
    });
  });
  it('refuses an endpoint the SSRF policy blocks without DNS (link-local metadata address)', () => {
    const r = admit(deps, { subscriptionId: 'metadata', tenantId: 'tenant-a' });
    expect(r).toMatchObject({ type: 'refuse', code: 'GATE.ENDPOINT_BLOCKED' });
    expect(r.type === 'refuse' && r.reason).toMatch(/URL\.BLOCKED_ADDRESS/);
  });
  it('lets allowlisted hosts through and public DNS names to the connect-time check', () => {
    const check = gateEndpointCheck(['127.0.0.1']);
    expect(check('http://127.0.0.1:8080/hook')).toBeUndefined();
    expect(check('https://hooks.example.com/x')).toBeUndefined();
    expect(check('http://localhost/x')).toMatch(/URL\.BLOCKED_HOST/);
    expect(check('ftp://hooks.example.com/x')).toMatch(/URL\.SCHEME/);
  });
});
