/**
 * The demo's (and the end-to-end test's) subscriber: a real HTTP server on loopback that
 *   - receives deliveries at `POST /hooks/<name>` and verifies every Standard Webhooks signature with the
 *     `standardwebhooks` package, using the signing secret the hub returned when the subscription was created;
 *   - serves an OAuth2 client-credentials token endpoint at `POST /oauth/token` and requires its token on the
 *     endpoints marked `oauth2`;
 *   - fails with 500 on endpoints marked failing, until told to recover; fails a share of requests when given a
 *     `failRatio`; never answers (until stop) on endpoints marked `hanging` (the reliability suite's slow subscriber);
 *   - counts the requests open at each endpoint at once (the hub's per-endpoint concurrency cap, seen from outside).
 * Receipts are kept per endpoint (webhook-id, CloudEvent attributes, body) so callers can count and dedupe.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface Receipt {
  endpoint: string;
  webhookId: string;
  /** CloudEvent attributes from `ce-*` headers (binary mode) or the JSON body (structured mode). */
  ce: Record<string, string>;
  contentType: string;
  body: string;
  signatureValid: boolean;
  /** Why verification failed (when it did). */
  verifyError?: string;
  authorized: boolean;
  /** The status answered; 0 on a hanging endpoint (no answer). */
  status: number;
  /** When the request arrived (its headers were read), before the body was read and verified. */
  receivedAt: Date;
}

export interface EndpointBehaviour {
  /** Standard Webhooks signing secret (whsec_...). Until set, deliveries are answered 503. */
  secret?: string;
  /** Require `Authorization: Bearer <token from /oauth/token>`. */
  oauth2?: boolean;
  /** Answer 500 while true. */
  failing?: boolean;
  /** Answer 500 to this share (0-1) of the requests, at random. */
  failRatio?: number;
  /** Never answer (the connection stays open until the subscriber stops or the hub gives up). */
  hanging?: boolean;
}

export interface DemoSubscriber {
  url: string;
  endpointUrl(name: string): string;
  tokenUrl: string;
  oauthClient: { clientId: string; clientSecret: string };
  configure(name: string, behaviour: EndpointBehaviour): void;
  receipts(name?: string): Receipt[];
  /** Distinct webhook-ids delivered with 2xx to an endpoint. */
  deliveredIds(name: string): Set<string>;
  tokensIssued(): number;
  /** Requests an endpoint is holding open right now, and the most it ever held at once. */
  concurrency(name: string): { open: number; max: number };
  onReceipt(listener: (r: Receipt) => void): void;
  stop(): Promise<void>;
}

const MAX_BODY = 1024 * 1024;

export async function startDemoSubscriber(opts: { host?: string; port?: number } = {}): Promise<DemoSubscriber> {
  const host = opts.host ?? '127.0.0.1';
  const endpoints = new Map<string, EndpointBehaviour>();
  const receipts: Receipt[] = [];
  const listeners: ((r: Receipt) => void)[] = [];
  const oauthClient = { clientId: 'demo-client', clientSecret: randomBytes(18).toString('base64url') };
  const tokens = new Set<string>();
  const open = new Map<string, { open: number; max: number }>();
  const concurrency = (name: string) => {
    let c = open.get(name);
    if (!c) {
      c = { open: 0, max: 0 };
      open.set(name, c);
    }
    return c;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    // Taken first: reading the body and verifying the signature are the subscriber's time, not the hub's.
    const arrivedAt = new Date();
    const url = new URL(req.url ?? '/', 'http://x');
    const body = await readBody(req);
    if (req.method === 'POST' && url.pathname === '/oauth/token') return token(req, body, res);
    const m = /^\/hooks\/([A-Za-z0-9_-]+)$/.exec(url.pathname);
    if (req.method !== 'POST' || !m) return send(res, 404, { error: 'not found' });
    const name = m[1]!;
    const behaviour = endpoints.get(name);
    if (!behaviour?.secret) return send(res, 503, { error: `endpoint ${name} is not configured yet` });
    // Counted from the first byte read to the answer (or the client giving up on a hanging request).
    const c = concurrency(name);
    c.open++;
    c.max = Math.max(c.max, c.open);
    res.once('close', () => c.open--);

    const headers = flatHeaders(req);
    let signatureValid = false;
    let verifyError: string | undefined;
    try {
      new Webhook(behaviour.secret).verify(body, headers);
      signatureValid = true;
    } catch (err) {
      verifyError = (err as Error).message;
    }
    const authorized = !behaviour.oauth2 || tokens.has((headers.authorization ?? '').replace(/^Bearer /i, ''));
    const failing = behaviour.failing || (behaviour.failRatio !== undefined && Math.random() < behaviour.failRatio);
    const status = behaviour.hanging ? 0 : !authorized ? 401 : !signatureValid ? 400 : failing ? 500 : 204;
    const receipt: Receipt = {
      endpoint: name,
      webhookId: headers['webhook-id'] ?? '',
      ce: cloudEventAttributes(headers, body),
      contentType: headers['content-type'] ?? '',
      body: body.toString('utf8'),
      signatureValid,
      verifyError,
      authorized,
      status,
      receivedAt: arrivedAt,
    };
    receipts.push(receipt);
    for (const l of listeners) l(receipt);
    if (status === 0) return; // hanging: status 0 in the receipt, no answer
    if (status === 204) {
      res.writeHead(204).end();
      return;
    }
    send(res, status, {
      error: !authorized ? 'missing or unknown bearer token' : (verifyError ?? 'failing on purpose'),
    });
  };

  const token = (req: IncomingMessage, body: Buffer, res: ServerResponse) => {
    const form = new URLSearchParams(body.toString('utf8'));
    let id = form.get('client_id') ?? '';
    let secret = form.get('client_secret') ?? '';
    const basic = /^Basic (.+)$/i.exec(req.headers.authorization ?? '');
    if (basic) {
      const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
      const idx = decoded.indexOf(':');
      id = decodeURIComponent(decoded.slice(0, idx));
      secret = decodeURIComponent(decoded.slice(idx + 1));
    }
    if (form.get('grant_type') !== 'client_credentials') return send(res, 400, { error: 'unsupported_grant_type' });
    if (id !== oauthClient.clientId || !safeEqual(secret, oauthClient.clientSecret))
      return send(res, 401, { error: 'invalid_client' });
    const accessToken = randomBytes(24).toString('base64url');
    tokens.add(accessToken);
    send(res, 200, { access_token: accessToken, token_type: 'Bearer', expires_in: 300 });
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: Error) => send(res, 500, { error: err.message }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const base = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  return {
    url: base,
    endpointUrl: (name) => `${base}/hooks/${name}`,
    tokenUrl: `${base}/oauth/token`,
    oauthClient,
    configure(name, behaviour) {
      endpoints.set(name, { ...endpoints.get(name), ...behaviour });
    },
    receipts: (name) => (name ? receipts.filter((r) => r.endpoint === name) : [...receipts]),
    deliveredIds: (name) =>
      new Set(receipts.filter((r) => r.endpoint === name && r.status < 300).map((r) => r.webhookId)),
    tokensIssued: () => tokens.size,
    concurrency: (name) => ({ ...concurrency(name) }),
    onReceipt: (l) => listeners.push(l),
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function flatHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

function cloudEventAttributes(headers: Record<string, string>, body: Buffer): Record<string, string> {
  const ce: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (k.startsWith('ce-')) ce[k.slice(3)] = v;
  if (Object.keys(ce).length === 0 && (headers['content-type'] ?? '').startsWith('application/cloudevents+json')) {
    try {
      const parsed = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      for (const [k, v] of Object.entries(parsed)) if (k !== 'data' && typeof v === 'string') ce[k] = v;
    } catch {
      // left empty: the receipt still shows the body
    }
  }
  return ce;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
