import type { LookupAddress } from 'node:dns';
import { createSafeLookup } from './safe-lookup';

type Base = Parameters<typeof createSafeLookup>[1];

const fakeDns =
  (answers: Record<string, LookupAddress[]>): Base =>
  (hostname, _opts, cb) => {
    const a = answers[hostname];
    if (!a) cb(Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' }), '', 0);
    else cb(null, a);
  };

function lookup(fn: ReturnType<typeof createSafeLookup>, host: string, all = false) {
  return new Promise<{ err: Error | null; address: unknown; family?: number }>((resolve) =>
    fn(host, { all }, (err, address, family) => resolve({ err, address, family })),
  );
}

describe('createSafeLookup', () => {
  const dns = fakeDns({
    'public.example': [{ address: '93.184.216.34', family: 4 }],
    'rebind.example': [
      { address: '93.184.216.34', family: 4 },
      { address: '127.0.0.1', family: 4 },
    ],
    'mapped.example': [{ address: '::ffff:10.0.0.1', family: 6 }],
    localhost: [{ address: '127.0.0.1', family: 4 }],
  });

  it('returns public addresses', async () => {
    const res = await lookup(createSafeLookup({ allowHosts: [] }, dns), 'public.example');
    expect(res).toEqual({ err: null, address: '93.184.216.34', family: 4 });
  });

  it('refuses a name that resolves to any internal address (DNS rebinding)', async () => {
    const safe = createSafeLookup({ allowHosts: [] }, dns);
    for (const host of ['rebind.example', 'mapped.example', 'localhost']) {
      const res = await lookup(safe, host);
      expect(res.err).toMatchObject({ code: 'ERR_HUB_SSRF_BLOCKED' });
    }
  });

  it('refuses internal IP literals without asking DNS', async () => {
    const res = await lookup(createSafeLookup({ allowHosts: [] }, dns), '169.254.169.254');
    expect(res.err?.message).toContain('metadata');
  });

  it('refuses internal-by-definition names without asking DNS (as registration does)', async () => {
    const asked: string[] = [];
    const base: Base = (hostname, opts, cb) => {
      asked.push(hostname);
      dns!(hostname, opts, cb);
    };
    const safe = createSafeLookup({ allowHosts: [] }, base);
    for (const host of ['api.localhost', 'LOCALHOST.', 'metadata.google.internal']) {
      const res = await lookup(safe, host);
      expect(res.err).toMatchObject({ code: 'ERR_HUB_SSRF_BLOCKED' });
    }
    expect(asked).toEqual([]);
  });

  it('lets allowlisted hosts through and honours all: true', async () => {
    const res = await lookup(createSafeLookup({ allowHosts: ['localhost'] }, dns), 'localhost', true);
    expect(res).toMatchObject({ err: null, address: [{ address: '127.0.0.1', family: 4 }] });
  });

  it('passes DNS errors on', async () => {
    const res = await lookup(createSafeLookup({ allowHosts: [] }, dns), 'nx.example');
    expect(res.err).toMatchObject({ code: 'ENOTFOUND' });
  });
});
