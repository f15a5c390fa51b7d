import { formatLogLine, lineSplitter, probeNoiseFilter } from './log-format';

describe('formatLogLine', () => {
  it('renders a pino line as time, service, level, message and fields', () => {
    const line = JSON.stringify({
      level: 30,
      time: '2025-01-02T12:34:56.789Z',
      pid: 1,
      hostname: 'h',
      service: 'outbox-processor',
      msg: 'delivered',
      eventId: 'e1',
      status: 200,
    });
    expect(formatLogLine('outbox-processor', line)).toBe(
      '12:34:56  outbox-processor  INFO   delivered  eventId=e1 status=200',
    );
  });

  it('pads the service name and keeps non-JSON lines as they are', () => {
    expect(formatLogLine('api', 'plain text here', { width: 6 })).toBe('api     plain text here');
  });

  it('quotes values with spaces and truncates very long values', () => {
    const out = formatLogLine('x', JSON.stringify({ level: 50, msg: 'boom', err: 'a b', big: 'y'.repeat(500) }));
    expect(out).toContain('ERROR');
    expect(out).toContain('err="a b"');
    expect(out).toContain(`big=${'y'.repeat(200)}…`);
  });

  it('colours only when asked', () => {
    expect(formatLogLine('x', '{"level":30,"msg":"m"}')).not.toContain('\x1b[');
    expect(formatLogLine('x', '{"level":30,"msg":"m"}', { color: true })).toContain('\x1b[');
  });
});

describe('lineSplitter', () => {
  it('joins chunks into lines and flushes the tail at the end', () => {
    const lines: string[] = [];
    const s = lineSplitter((l) => lines.push(l));
    s.push('one\ntw');
    s.push('o\r\n\nthr');
    expect(lines).toEqual(['one', 'two']);
    s.end();
    expect(lines).toEqual(['one', 'two', 'thr']);
  });
});

describe('probeNoiseFilter', () => {
  it('hides the request lines of /readyz, /healthz and /metrics, and keeps everything else', () => {
    const show = probeNoiseFilter();
    const line = (o: object) => JSON.stringify({ level: 30, ...o });
    expect(show('api', line({ reqId: 'a', req: { url: '/readyz' }, msg: 'incoming request' }))).toBe(false);
    expect(show('api', line({ reqId: 'b', req: { url: '/v1/subscriptions' }, msg: 'incoming request' }))).toBe(true);
    expect(show('api', line({ reqId: 'a', res: { statusCode: 200 }, msg: 'request completed' }))).toBe(false);
    expect(show('api', line({ reqId: 'b', res: { statusCode: 201 }, msg: 'request completed' }))).toBe(true);
    expect(show('api', line({ reqId: 'c', req: { url: '/metrics?x=1' }, msg: 'incoming request' }))).toBe(false);
    expect(show('other', line({ reqId: 'c', res: { statusCode: 200 }, msg: 'request completed' }))).toBe(true);
    expect(show('api', 'plain line')).toBe(true);
  });
});
