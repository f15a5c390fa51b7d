/**
 * A minimal stand-in for a Confluent-compatible schema registry, for tests only.
 *
 * No real registry (Confluent, Apicurio, Karapace) can be installed on these machines — they ship as Docker images
 * or JVM distributions outside Maven Central — so tests run this HTTP server instead. It serves exactly the
 * endpoints @kafkajs/confluent-schema-registry 3.9 calls, with the real registry's status codes and error codes:
 *   GET  /schemas/ids/:id                      -> {schema, schemaType?} | 404 {error_code: 40403}
 *   POST /subjects/:subject/versions           -> {id}   (same schema under a subject -> same id)
 *   POST /subjects/:subject                    -> {subject, id, version, schema} | 404 {error_code: 40403}
 *   GET  /subjects/:subject/versions/:version  -> {subject, id, version, schema, schemaType?} (version or "latest")
 *   GET  /subjects                             -> [subject...]
 *   GET|PUT /config/:subject                   -> {compatibilityLevel} / {compatibility} | 404 {error_code: 40401}
 * docker-compose.yml points the services at a real registry.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

interface Stored {
  id: number;
  schema: string;
  schemaType?: string;
  references?: unknown[];
}

export interface FakeSchemaRegistry {
  url: string;
  /** Requests served, e.g. `GET /schemas/ids/1` (tests assert caching). */
  requests: string[];
  /** Makes every request fail with 503 while true (registry outage). */
  setUnavailable(down: boolean): void;
  close(): Promise<void>;
}

export async function startFakeSchemaRegistry(): Promise<FakeSchemaRegistry> {
  const byId = new Map<number, Stored>();
  const subjects = new Map<string, number[]>();
  const config = new Map<string, string>();
  const requests: string[] = [];
  let nextId = 1;
  let unavailable = false;

  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/vnd.schemaregistry.v1+json' });
    res.end(JSON.stringify(body));
  };
  const readBody = async (req: IncomingMessage): Promise<Record<string, unknown>> => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    return text ? (JSON.parse(text) as Record<string, unknown>) : {};
  };
  const versionView = (subject: string, version: number) => {
    const s = byId.get(subjects.get(subject)![version - 1]!)!;
    return { subject, version, id: s.id, schema: s.schema, ...(s.schemaType ? { schemaType: s.schemaType } : {}) };
  };

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://registry');
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    requests.push(`${req.method} ${url.pathname}`);
    void (async () => {
      if (unavailable) return send(res, 503, { error_code: 50003, message: 'unavailable' });
      if (req.method === 'GET' && parts[0] === 'schemas' && parts[1] === 'ids' && parts[2]) {
        const s = byId.get(Number(parts[2]));
        if (!s) return send(res, 404, { error_code: 40403, message: 'Schema not found' });
        return send(res, 200, { schema: s.schema, ...(s.schemaType ? { schemaType: s.schemaType } : {}) });
      }
      if (req.method === 'GET' && parts[0] === 'subjects' && parts.length === 1)
        return send(res, 200, [...subjects.keys()]);
      if (parts[0] === 'subjects' && parts[1]) {
        const subject = parts[1];
        if (req.method === 'POST' && parts[2] === 'versions') {
          const body = await readBody(req);
          const schema = String(body.schema);
          const schemaType = typeof body.schemaType === 'string' ? body.schemaType : undefined;
          const versions = subjects.get(subject) ?? [];
          const same = versions.map((id) => byId.get(id)!).find((s) => s.schema === schema);
          if (same) return send(res, 200, { id: same.id });
          const id = nextId++;
          byId.set(id, { id, schema, schemaType, references: body.references as unknown[] | undefined });
          subjects.set(subject, [...versions, id]);
          return send(res, 200, { id });
        }
        if (req.method === 'POST' && parts.length === 2) {
          const body = await readBody(req);
          const versions = subjects.get(subject) ?? [];
          const idx = versions.findIndex((id) => byId.get(id)!.schema === String(body.schema));
          if (idx < 0) return send(res, 404, { error_code: 40403, message: 'Schema not found' });
          return send(res, 200, versionView(subject, idx + 1));
        }
        if (req.method === 'GET' && parts[2] === 'versions' && parts[3]) {
          const versions = subjects.get(subject);
          if (!versions) return send(res, 404, { error_code: 40401, message: 'Subject not found' });
          const v = parts[3] === 'latest' ? versions.length : Number(parts[3]);
          if (!(v >= 1 && v <= versions.length))
            return send(res, 404, { error_code: 40402, message: 'Version not found' });
          return send(res, 200, versionView(subject, v));
        }
      }
      if (parts[0] === 'config' && parts[1]) {
        if (req.method === 'GET') {
          const level = config.get(parts[1]);
          if (!level) return send(res, 404, { error_code: 40401, message: 'Subject not found' });
          return send(res, 200, { compatibilityLevel: level });
        }
        if (req.method === 'PUT') {
          const body = await readBody(req);
          config.set(parts[1], String(body.compatibility));
          return send(res, 200, { compatibility: body.compatibility });
        }
      }
      return send(res, 404, { error_code: 404, message: `no route ${req.method} ${url.pathname}` });
    })().catch((err) => send(res, 500, { error_code: 500, message: String(err) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    setUnavailable: (down) => {
      unavailable = down;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
