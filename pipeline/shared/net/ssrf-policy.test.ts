import {
  type AddressClass,
  checkAddress,
  classifyIp,
  type EndpointPolicy,
  isAllowlisted,
  parseIpv4Whatwg,
  parseIpv6,
  validateEndpointUrl,
} from './ssrf-policy';

const strict: EndpointPolicy = { allowHosts: [], requireHttps: true };

describe('parseIpv4Whatwg', () => {
  it.each([
    ['127.0.0.1', '127.0.0.1'],
    ['2130706433', '127.0.0.1'],
    ['0x7f000001', '127.0.0.1'],
    ['0177.0.0.1', '127.0.0.1'],
    ['127.1', '127.0.0.1'],
    ['127.0.1', '127.0.0.1'],
    ['0x7f.1', '127.0.0.1'],
    ['017700000001', '127.0.0.1'],
    ['127.0.0.1.', '127.0.0.1'],
    ['0', '0.0.0.0'],
    ['0xa9fea9fe', '169.254.169.254'],
    ['0x', '0.0.0.0'],
  ])('parses %s like the URL parser (%s)', (input, expected) => {
    const v = parseIpv4Whatwg(input);
    expect(v).toBeDefined();
    expect(new URL(`http://${expected}/`).hostname).toBe(new URL(`http://${input}/`).hostname);
    expect([v! >>> 24, (v! >>> 16) & 255, (v! >>> 8) & 255, v! & 255].join('.')).toBe(expected);
  });

  it.each(['example.com', '1.2.3.4.5', '256.1.1.1', '1.2.3.0x100000000', '09.1.1.1', ''])('rejects %s', (input) => {
    expect(parseIpv4Whatwg(input)).toBeUndefined();
  });
});

describe('parseIpv6', () => {
  it.each([
    ['::1', [0, 0, 0, 0, 0, 0, 0, 1]],
    ['[::1]', [0, 0, 0, 0, 0, 0, 0, 1]],
    ['::ffff:127.0.0.1', [0, 0, 0, 0, 0, 0xffff, 0x7f00, 1]],
    ['::ffff:7f00:1', [0, 0, 0, 0, 0, 0xffff, 0x7f00, 1]],
    ['fe80::1%eth0', [0xfe80, 0, 0, 0, 0, 0, 0, 1]],
    ['2001:db8:0:0:0:0:0:1', [0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]],
    ['1:2:3:4:5:6:7::', [1, 2, 3, 4, 5, 6, 7, 0]],
  ])('parses %s', (input, expected) => {
    expect(parseIpv6(input)).toEqual(expected);
  });

  it.each(['1::2::3', '1:2:3:4:5:6:7:8:9', '12345::', 'g::1', '1:2:3:4:5:6:7', '::1.2.3'])('rejects %s', (input) => {
    expect(parseIpv6(input)).toBeUndefined();
  });
});

describe('classifyIp', () => {
  const table: Array<[string, AddressClass]> = [
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['172.32.0.1', 'public'],
    ['192.168.1.1', 'private'],
    ['169.254.1.1', 'link-local'],
    ['169.254.169.254', 'metadata'],
    ['100.100.100.200', 'metadata'],
    ['100.64.0.1', 'cgnat'],
    ['100.127.255.255', 'cgnat'],
    ['100.128.0.1', 'public'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['240.0.0.1', 'reserved'],
    ['192.0.2.10', 'documentation'],
    ['198.51.100.7', 'documentation'],
    ['203.0.113.9', 'documentation'],
    ['198.18.0.1', 'reserved'],
    ['8.8.8.8', 'public'],
    ['93.184.216.34', 'public'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['fe80::1', 'link-local'],
    ['febf::1', 'link-local'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456::1', 'unique-local'],
    ['fd00:ec2::254', 'metadata'],
    ['ff02::1', 'multicast'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:a9fe:a9fe', 'metadata'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:8.8.8.8', 'public'],
    ['::ffff:0:127.0.0.1', 'loopback'],
    ['::127.0.0.1', 'reserved'],
    ['64:ff9b::7f00:1', 'loopback'],
    ['64:ff9b::a9fe:a9fe', 'metadata'],
    ['64:ff9b::808:808', 'public'],
    ['64:ff9b:1::1', 'private'],
    ['2002:7f00:1::1', 'loopback'],
    ['2002:c0a8:101::', 'private'],
    ['2002:808:808::1', 'public'],
    ['2001:0:4136:e378::1', 'reserved'],
    ['2001:db8::1', 'documentation'],
    ['3fff::1', 'documentation'],
    ['fec0::1', 'private'],
    ['100::1', 'reserved'],
    ['4000::1', 'reserved'],
    ['2606:4700:4700::1111', 'public'],
    // odd IPv4 spellings
    ['2130706433', 'loopback'],
    ['0x7f000001', 'loopback'],
    ['0177.0.0.1', 'loopback'],
    ['127.1', 'loopback'],
    ['0xa9fea9fe', 'metadata'],
    ['012.0.0.1', 'private'],
  ];
  it.each(table)('%s is %s', (ip, expected) => {
    expect(classifyIp(ip)?.class).toBe(expected);
  });

  it('says a DNS name is not an IP', () => {
    expect(classifyIp('example.com')).toBeUndefined();
    expect(classifyIp('1.2.3.example')).toBeUndefined();
  });

  it('names the range of an embedded IPv4', () => {
    expect(classifyIp('::ffff:127.0.0.1')?.range).toBe('::ffff:0:0/96 -> 127.0.0.0/8');
  });
});

describe('isAllowlisted', () => {
  it('matches exact, case-insensitive, bracketed IPv6 by value and *.suffix', () => {
    expect(isAllowlisted('LocalHost', ['localhost'])).toBe(true);
    expect(isAllowlisted('[::1]', ['0:0:0:0:0:0:0:1'])).toBe(true);
    expect(isAllowlisted('a.b.example.com', ['*.example.com'])).toBe(true);
    expect(isAllowlisted('example.com', ['*.example.com'])).toBe(false);
    expect(isAllowlisted('evilexample.com', ['*.example.com'])).toBe(false);
    expect(isAllowlisted('127.0.0.2', ['127.0.0.1'])).toBe(false);
  });
});

describe('validateEndpointUrl', () => {
  const resolver: Record<string, string[]> = {
    'hooks.example.com': ['93.184.216.34'],
    'rebind.example.com': ['93.184.216.34', '127.0.0.1'],
    'internal.example.com': ['10.0.0.5'],
    'v6.example.com': ['2606:4700:4700::1111'],
    'mapped.example.com': ['::ffff:169.254.169.254'],
  };
  const withDns: EndpointPolicy = {
    allowHosts: [],
    requireHttps: true,
    resolve: async (host) => {
      const a = resolver[host];
      if (!a) throw new Error('ENOTFOUND');
      return a;
    },
  };

  const rejected: Array<[string, string]> = [
    ['https://127.0.0.1/hook', 'URL.BLOCKED_ADDRESS'],
    ['https://2130706433/', 'URL.BLOCKED_ADDRESS'],
    ['https://0x7f000001/', 'URL.BLOCKED_ADDRESS'],
    ['https://0177.0.0.1/', 'URL.BLOCKED_ADDRESS'],
    ['https://127.1/', 'URL.BLOCKED_ADDRESS'],
    ['https://127.0.0.1./', 'URL.BLOCKED_ADDRESS'],
    ['https://%31%32%37.0.0.1/', 'URL.BLOCKED_ADDRESS'],
    ['https://[::1]/', 'URL.BLOCKED_ADDRESS'],
    ['https://[::ffff:127.0.0.1]/', 'URL.BLOCKED_ADDRESS'],
    ['https://[0:0:0:0:0:ffff:a9fe:a9fe]/', 'URL.BLOCKED_ADDRESS'],
    ['https://169.254.169.254/latest/meta-data', 'URL.BLOCKED_ADDRESS'],
    ['https://[fd00:ec2::254]/', 'URL.BLOCKED_ADDRESS'],
    ['https://10.0.0.1/', 'URL.BLOCKED_ADDRESS'],
    ['https://192.168.0.10:8443/', 'URL.BLOCKED_ADDRESS'],
    ['https://100.64.1.1/', 'URL.BLOCKED_ADDRESS'],
    ['https://0.0.0.0/', 'URL.BLOCKED_ADDRESS'],
    ['https://0/', 'URL.BLOCKED_ADDRESS'],
    ['https://[fe80::1]/', 'URL.BLOCKED_ADDRESS'],
    ['https://[fc00::1]/', 'URL.BLOCKED_ADDRESS'],
    ['https://[64:ff9b::7f00:1]/', 'URL.BLOCKED_ADDRESS'],
    ['https://[2002:a9fe:a9fe::1]/', 'URL.BLOCKED_ADDRESS'],
    ['https://224.0.0.1/', 'URL.BLOCKED_ADDRESS'],
    ['https://localhost/', 'URL.BLOCKED_HOST'],
    ['https://api.localhost/', 'URL.BLOCKED_HOST'],
    ['https://metadata.google.internal/', 'URL.BLOCKED_HOST'],
    ['https://intranet/', 'URL.BLOCKED_HOST'],
    ['https://rebind.example.com/', 'URL.BLOCKED_ADDRESS'],
    ['https://internal.example.com/', 'URL.BLOCKED_ADDRESS'],
    ['https://mapped.example.com/', 'URL.BLOCKED_ADDRESS'],
    ['https://nxdomain.example.com/', 'URL.UNRESOLVABLE'],
    ['http://hooks.example.com/', 'URL.HTTPS_REQUIRED'],
    ['ftp://hooks.example.com/', 'URL.SCHEME'],
    ['file:///etc/passwd', 'URL.SCHEME'],
    ['https://user:pw@hooks.example.com/', 'URL.CREDENTIALS'],
    ['not a url', 'URL.INVALID'],
    ['/relative/path', 'URL.INVALID'],
  ];

  it.each(rejected)('rejects %s (%s)', async (url, code) => {
    const res = await validateEndpointUrl(url, withDns);
    expect(res).toMatchObject({ ok: false, code });
    if (!res.ok) expect(res.reason.length).toBeGreaterThan(5);
  });

  it.each([
    'https://hooks.example.com/webhooks?x=1',
    'https://v6.example.com/',
    'https://93.184.216.34/',
    'https://[2606:4700:4700::1111]/',
  ])('accepts %s', async (url) => {
    expect(await validateEndpointUrl(url, withDns)).toMatchObject({ ok: true, allowlisted: false });
  });

  it('explains a DNS answer in the reason', async () => {
    const res = await validateEndpointUrl('https://rebind.example.com/', withDns);
    expect(res).toMatchObject({ ok: false, reason: expect.stringContaining('resolves to 127.0.0.1') });
  });

  it('lets allowlisted hosts use http and internal addresses', async () => {
    const policy = { ...strict, allowHosts: ['127.0.0.1', 'localhost'] };
    expect(await validateEndpointUrl('http://127.0.0.1:8080/hook', policy)).toMatchObject({ ok: true });
    expect(await validateEndpointUrl('http://localhost:8080/hook', policy)).toMatchObject({ ok: true });
    expect(await validateEndpointUrl('http://127.0.0.2/', policy)).toMatchObject({ ok: false });
  });

  it('allows http for any host when https is not required, but still blocks internal addresses', async () => {
    const policy = { allowHosts: [], requireHttps: false };
    expect(await validateEndpointUrl('http://93.184.216.34/', policy)).toMatchObject({ ok: true });
    expect(await validateEndpointUrl('http://127.0.0.1/', policy)).toMatchObject({ code: 'URL.BLOCKED_ADDRESS' });
  });
});

describe('checkAddress (connect-time re-check)', () => {
  it('blocks a public-looking name that now resolves to loopback', () => {
    expect(checkAddress('hooks.example.com', '127.0.0.1', strict)).toMatchObject({ ok: false });
    expect(checkAddress('hooks.example.com', '::ffff:10.1.1.1', strict)).toMatchObject({ ok: false });
    expect(checkAddress('hooks.example.com', '93.184.216.34', strict)).toEqual({ ok: true });
  });

  it('lets an allowlisted host reach its internal address', () => {
    expect(checkAddress('localhost', '127.0.0.1', { allowHosts: ['localhost'] })).toEqual({ ok: true });
  });
});
