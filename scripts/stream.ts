/**
 * `npm run stream -- [--tenant acme] [--type user.created] [--subscription <id>] [--facts] [--last-event-id <streamid>]`:
 * an example client of the real-time stream (`GET /v1/stream` on the dlt-processor, a WebSocket). Prints one line per
 * CloudEvent frame; on a disconnect it resumes from the last frame's `streamid`, so it misses nothing within Kafka's
 * retention.
 *
 * The key goes in the `authorization` header (or, for browsers, the subprotocol `bearer.<key>` next to
 * `integration-hub.stream.v1`), never in the URL. It is STREAM_API_KEY, else the operator key of the local hub
 * (.data/hub.env, which may stream any tenant, or the facts with --facts). The URL is STREAM_URL, else the running
 * hub's dlt-processor (.data/hub.json).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { parseEnvFile } from './hub/secrets';
import { findRoot } from './hub/start-hub';

function settings() {
  const { values } = parseArgs({
    options: {
      tenant: { type: 'string' },
      type: { type: 'string' },
      subscription: { type: 'string' },
      facts: { type: 'boolean', default: false },
      'last-event-id': { type: 'string' },
    },
  });
  const dataDir = resolve(process.env.HUB_DATA_DIR ?? join(findRoot(), '.data'));
  const info = join(dataDir, 'hub.json');
  const base =
    process.env.STREAM_URL ??
    (existsSync(info)
      ? (JSON.parse(readFileSync(info, 'utf8')) as { urls: { 'dlt-processor': { url: string } } }).urls[
          'dlt-processor'
        ].url.replace(/^http/, 'ws')
      : undefined);
  if (!base)
    throw new Error(`the hub is not running (${info} is missing): start it with \`npm run up\`, or set STREAM_URL`);
  const secretsFile = join(dataDir, 'hub.env');
  const key =
    process.env.STREAM_API_KEY ??
    (existsSync(secretsFile) ? parseEnvFile(readFileSync(secretsFile, 'utf8')).OPERATOR_API_KEY : undefined);
  if (!key) throw new Error(`no API key: set STREAM_API_KEY (or start the hub, which writes ${secretsFile})`);
  const query = new URLSearchParams();
  if (values.tenant) query.set('tenantId', values.tenant);
  if (values.type) query.set('type', values.type);
  if (values.subscription) query.set('subscriptionId', values.subscription);
  if (values.facts) query.set('source', 'facts');
  return { base: `${base.replace(/\/$/, '')}/v1/stream`, key, query, lastEventId: values['last-event-id'] };
}

function main(): void {
  const s = settings();
  let lastEventId = s.lastEventId;
  let backoffMs = 500;
  const connect = () => {
    const query = new URLSearchParams(s.query);
    if (lastEventId) query.set('lastEventId', lastEventId);
    const ws = new WebSocket(`${s.base}?${query}`, { headers: { authorization: `Bearer ${s.key}` } });
    ws.on('unexpected-response', (_req, res) => {
      console.error(`refused: HTTP ${res.statusCode} (check the key and the query)`);
      process.exit(1);
    });
    ws.on('open', () => {
      backoffMs = 500;
      console.error(
        `streaming ${s.query.toString() || 'your tenant'}${lastEventId ? ' (resumed)' : ''}; Ctrl-C to stop`,
      );
    });
    ws.on('message', (m) => {
      const frame = JSON.parse(m.toString()) as { streamid?: string; type: string; id: string; tenantid?: string };
      if (frame.streamid) lastEventId = frame.streamid;
      if (frame.type === 'io.integration-hub.stream.opened.v1') return;
      console.log(JSON.stringify(frame));
    });
    ws.on('error', (err) => console.error(`stream error: ${err.message}`));
    ws.on('close', (code, reason) => {
      console.error(`closed (${code}${reason.length ? `: ${reason}` : ''}); reconnecting in ${backoffMs} ms`);
      setTimeout(connect, backoffMs);
      backoffMs = Math.min(backoffMs * 2, 10_000);
    });
  };
  connect();
}

main();
