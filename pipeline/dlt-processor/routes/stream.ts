/**
 * `GET /v1/stream` (issue 18): a WebSocket stream of the customer-facing events of the caller's tenant (the outbox
 * topics, after matching), one CloudEvents structured-JSON text frame per record, filtered by the query.
 *
 *   upgrade request ─ apiKeyAuth (authorization header, or the subprotocol `bearer.<key>`: never the URL) ─ 401
 *     ─ query (zod) ─ 400 ─ tenant scope ─ 403 ─ connection limits per key / per tenant ─ 429   (all before the upgrade)
 *   upgraded ─ StreamSource.open(topics, lastEventId cursor) ─▶ frames { ...CloudEvent, subscriptionid, streamid }
 *     socket.bufferedAmount > STREAM_BUFFER_BYTES ─▶ close 4008 "slow consumer" (then terminate): a slow client
 *       never slows the pipeline (its own consumer, nothing committed) or another client
 *     ping every STREAM_PING_MS; no pong by the next ping ─▶ terminate
 *
 * Why here (the dlt-processor's operator API) and not the event-processor: the event-processor is the ingest hot path;
 * streams are long-lived reads with their own consumers, which belong beside the other read APIs (ledger, audit) and
 * their API-key auth, off the path that accepts events.
 */
import { randomUUID } from 'node:crypto';
import type {} from '@fastify/websocket'; // the websocket route options and handler types
import type { WebSocket } from 'ws';
import { tenantScope } from '../../shared/auth/api-key';
import { principalOf } from '../../shared/auth/api-key-auth';
import { errorMessage } from '../../shared/errors';
import type { HubApp } from '../../shared/http/create-app';
import { badRequest, forbidden, problem } from '../../shared/http/problem';
import type { Logger } from '../../shared/logging/logger';
import type { TopicNames } from '../../shared/topics';
import { type Cursor, decodeCursor, encodeCursor, frameOf, streamQuery } from '../stream';
import type { StreamSource } from '../stream-source.kafka';

/** The subprotocol a client offers with `bearer.<key>`; the server answers with it (never with the key). */
export const STREAM_PROTOCOL = 'integration-hub.stream.v1';
export const BEARER_PROTOCOL_PREFIX = 'bearer.';

/** Why a stream ended: the client left, it read too slowly, missed a pong, the read failed, or the service stops. */
export type CloseReason = 'client' | 'slow' | 'heartbeat' | 'error' | 'shutdown';

/** Close codes: 4008 slow consumer (over the buffer bound), 1011 the server's read failed, 1001 shutting down. */
export const CLOSE_SLOW = 4008;
/** The first frame of every stream, once its position is fixed (its `streamid` resumes from there). */
export const STREAM_OPENED_TYPE = 'io.integration-hub.stream.opened.v1';

export interface StreamDeps {
  source: StreamSource;
  topics: TopicNames;
  log: Logger;
  /** Unsent bytes a connection may hold before it is closed as a slow consumer. */
  bufferBytes: number;
  pingMs: number;
  maxPerKey: number;
  maxPerTenant: number;
  /** Called when a connection ends, with why (tests, metrics), as soon as that is decided (its close frame sent). */
  onClosed?: (reason: CloseReason) => void;
}

/** `authorization` from the subprotocol `bearer.<key>` when the header is absent (browsers cannot set headers). */
export function bearerFromProtocol(headers: Record<string, string | string[] | undefined>): void {
  const offered = headers['sec-websocket-protocol'];
  if (headers.authorization || typeof offered !== 'string') return;
  const bearer = offered
    .split(',')
    .map((p) => p.trim())
    .find((p) => p.startsWith(BEARER_PROTOCOL_PREFIX));
  if (bearer) headers.authorization = `Bearer ${bearer.slice(BEARER_PROTOCOL_PREFIX.length)}`;
}

export function registerStreamRoutes(api: HubApp, deps: StreamDeps): { close(): Promise<void> } {
  const perKey = new Map<string, number>();
  const perTenant = new Map<string, number>();
  const open = new Set<{ end(reason: 'shutdown'): Promise<void> }>();
  // Readers still closing (their client left, or they opened after it did): close() waits for them too, so a stopped
  // service leaves no consumer behind.
  const closing = new Set<Promise<void>>();
  const track = (p: Promise<void>) => {
    closing.add(p);
    const done = () => void closing.delete(p);
    p.then(done, done);
    return p;
  };
  const inc = (m: Map<string, number>, k: string, d: number) => {
    const n = (m.get(k) ?? 0) + d;
    if (n <= 0) m.delete(k);
    else m.set(k, n);
  };

  api.get(
    '/v1/stream',
    {
      websocket: true,
      schema: {
        tags: ['stream'],
        summary:
          'WebSocket: the customer-facing events of your tenant as CloudEvents JSON frames (resume with lastEventId)',
        querystring: streamQuery,
      },
      preHandler: async (req) => {
        const principal = principalOf(req);
        const q = req.query;
        const scope = tenantScope(principal, q.tenantId);
        if (!scope.ok) throw forbidden(scope.detail);
        if (q.source === 'facts' && principal.role !== 'OPERATOR')
          throw forbidden('only operator keys may stream the fact topics');
        const topics = q.source === 'facts' ? Object.values(deps.topics.facts) : deps.topics.allOutbox();
        if (q.lastEventId !== undefined && decodeCursor(q.lastEventId, topics) === undefined)
          throw badRequest('lastEventId is not a streamid this stream handed out', [
            { path: 'lastEventId', message: 'unknown stream position: reconnect without it to start at the end' },
          ]);
        if ((perKey.get(principal.keyId) ?? 0) >= deps.maxPerKey)
          throw problem(
            429,
            'too-many-streams',
            'Too many streams',
            `at most ${deps.maxPerKey} streams per API key: close one first`,
          );
        const tenantKey = scope.tenantId ?? '*';
        if ((perTenant.get(tenantKey) ?? 0) >= deps.maxPerTenant)
          throw problem(
            429,
            'too-many-streams',
            'Too many streams',
            `at most ${deps.maxPerTenant} streams per tenant: close one first`,
          );
      },
    },
    async (socket: WebSocket, req) => {
      const principal = principalOf(req);
      const { lastEventId, tenantId, ...filter } = req.query;
      const scope = tenantScope(principal, tenantId);
      const tenant = scope.ok ? scope.tenantId : principal.tenantId;
      const tenantKey = tenant ?? '*';
      const topics = filter.source === 'facts' ? Object.values(deps.topics.facts) : deps.topics.allOutbox();
      const log = deps.log.child({ component: 'stream', keyId: principal.keyId, tenantId: tenantKey });
      inc(perKey, principal.keyId, 1);
      inc(perTenant, tenantKey, 1);

      let ended = false;
      let reader: { start: Cursor; close(): Promise<void> } | undefined;
      let alive = true;
      const ping = setInterval(() => {
        if (!alive) return void end('heartbeat');
        alive = false;
        socket.ping();
      }, deps.pingMs);
      socket.on('pong', () => {
        alive = true;
      });
      function end(reason: CloseReason, code?: number, why?: string) {
        if (ended) return Promise.resolve();
        return track(ending(reason, code, why));
      }
      async function ending(reason: CloseReason, code?: number, why?: string) {
        ended = true;
        clearInterval(ping);
        open.delete(conn);
        inc(perKey, principal.keyId, -1);
        inc(perTenant, tenantKey, -1);
        if (code !== undefined && socket.readyState === socket.OPEN) {
          socket.close(code, why);
          // A client that does not read may never answer the close: drop it after a grace period.
          setTimeout(() => socket.terminate(), 1000).unref();
        } else if (reason === 'heartbeat') socket.terminate();
        // Told when the decision is made: stopping the reader's consumer below can take a second.
        deps.onClosed?.(reason);
        await reader?.close().catch(() => {});
        log.info({ reason }, 'stream closed');
      }
      const conn = {
        end: (reason: 'shutdown') => end(reason, 1001, 'server shutting down; reconnect with lastEventId'),
      };
      open.add(conn);
      socket.on('close', () => void end('client'));
      socket.on('error', () => void end('error'));

      // The open itself counts as closing until it is done: a stop that comes while the reader is being opened
      // waits for it to open and close again.
      let opening!: () => void;
      track(new Promise<void>((resolve) => (opening = resolve)));
      try {
        reader = await deps.source.open({
          topics,
          from: lastEventId === undefined ? undefined : decodeCursor(lastEventId, topics),
          onRecord: (r, cursor) => {
            if (ended) return;
            const frame = frameOf(r, { ...filter, tenantId: tenant });
            if (!frame) return;
            if (socket.bufferedAmount > deps.bufferBytes) {
              void end(
                'slow',
                CLOSE_SLOW,
                `slow consumer: more than ${deps.bufferBytes} bytes unread; reconnect with lastEventId`,
              );
              return;
            }
            frame.streamid = encodeCursor(cursor);
            socket.send(JSON.stringify(frame));
          },
          onError: (err) => {
            log.warn({ err: errorMessage(err) }, 'stream read failed; closing the connection (the client may resume)');
            void end('error', 1011, 'stream read failed; reconnect with lastEventId');
          },
        });
        if (ended) await reader.close();
        else {
          // The position is fixed: say so (a client may resume from here even before any event arrives).
          socket.send(
            JSON.stringify({
              specversion: '1.0',
              id: randomUUID(),
              source: '//integration-hub/stream',
              type: STREAM_OPENED_TYPE,
              time: new Date().toISOString(),
              streamid: encodeCursor(reader.start),
            }),
          );
          log.info({ source: filter.source, resumed: lastEventId !== undefined }, 'stream opened');
        }
      } catch (err) {
        log.warn({ err: errorMessage(err) }, 'stream could not start; closing the connection');
        await end('error', 1011, 'stream could not start; try again');
      } finally {
        opening();
      }
    },
  );
  return {
    async close() {
      await Promise.all([...open].map((c) => c.end('shutdown')));
      await Promise.all([...closing]);
    },
  };
}
