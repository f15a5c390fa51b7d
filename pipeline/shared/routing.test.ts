import { routeDomain } from './routing';

describe('routeDomain', () => {
  it.each([
    [{ resourceType: 'USER', eventType: 'user.created' }, 'user-lifecycle'],
    [{ resourceType: 'user', eventType: 'anything' }, 'user-lifecycle'],
    [{ resourceType: 'ROLE', eventType: 'role.assigned' }, 'access'],
    [{ resourceType: 'POLICY', eventType: 'policy.changed' }, 'policy'],
    [{ resourceType: 'ORGANIZATION', eventType: 'org.updated' }, 'organization'],
    [{ resourceType: 'WIDGET', eventType: 'policy.attached' }, 'policy'],
    [{ resourceType: 'WIDGET', eventType: 'widget.spun' }, 'organization'],
  ])('routes %o to %s', (event, domain) => {
    expect(routeDomain(event)).toBe(domain);
  });
});
