/**
 * The gRPC server's standard parts over real ports: grpc.health.v1, server reflection (the protocol grpcurl and
 * Postman use), deadlines (a request whose `grpc-timeout` has already run out is not started), the per-key rate
 * limit (RESOURCE_EXHAUSTED with google.rpc.RetryInfo) and TLS with a self-signed certificate made by openssl.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, loadPackageDefinition, type ServiceError, status } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import {
  CreateSubscriptionRequest,
  ListSubscriptionsRequest,
  SubscriptionServiceClient,
} from '../../schemas/proto/gen/integrationhub/v1/subscription';
import { callAs, failure, healthStatus, insecureClient } from '../support/grpc';
import { type Harness, OPERATOR_KEY, startHarness } from './harness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ grpc: true, relay: false });
});
afterAll(async () => {
  await h?.close();
});

const SERVICES = ['integrationhub.v1.SubscriptionService', 'integrationhub.v1.EventTypeService'];

describe('subscription-api gRPC server', () => {
  it('answers grpc.health.v1 SERVING for the server and each service, NOT_FOUND for an unknown one', async () => {
    expect(await healthStatus(h.grpc!.address)).toBe('SERVING');
    for (const s of SERVICES) expect(await healthStatus(h.grpc!.address, s)).toBe('SERVING');
    const unknown = await healthStatus(h.grpc!.address, 'no.such.Service').catch((e: ServiceError) => e.code);
    expect(unknown).toBe(status.NOT_FOUND);
  });

  it('lists its services and serves their descriptors over server reflection (v1)', async () => {
    const answers = await reflect(h.grpc!.address, [
      { listServices: '' },
      { fileContainingSymbol: 'integrationhub.v1.SubscriptionService' },
    ]);
    const names = answers[0]!.listServicesResponse!.service.map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(SERVICES));
    const files = answers[1]!.fileDescriptorResponse!.fileDescriptorProto.map((b) => Buffer.from(b).toString('latin1'));
    // FileDescriptorProto bytes: the service's methods and the fields, named as in the .proto (what grpcurl's
    // JSON uses), are in there as strings.
    const subscriptionFile = files.find((f) => f.includes('GetSubscriptionsByEvent'));
    expect(subscriptionFile).toBeDefined();
    expect(subscriptionFile).toContain('source_service');
    expect(subscriptionFile).not.toContain('sourceService');
  });

  it('does not start a call whose deadline has passed (DEADLINE_EXCEEDED, nothing stored)', async () => {
    const before = await h.db.prisma.subscription.count();
    const body = CreateSubscriptionRequest.encode(
      CreateSubscriptionRequest.fromPartial({
        subscription: {
          tenantId: 'deadline',
          match: {
            sourceService: 'identity',
            eventType: 'user.created',
            resourceType: 'USER',
            operationType: 'CREATE',
          },
          endpointUrl: 'https://hooks.example.com/webhooks',
        },
      }),
    ).finish();
    const path = '/integrationhub.v1.SubscriptionService/CreateSubscription';
    // Raw HTTP/2, so the server (not the client library) sees the spent deadline: grpc-timeout 1 nanosecond.
    expect(await rawGrpc(h.grpc!.address, path, body, '1n')).toBe(status.DEADLINE_EXCEEDED);
    expect(await h.db.prisma.subscription.count()).toBe(before);
    // The same request with time to spare is handled: the raw client is sound.
    expect(await rawGrpc(h.grpc!.address, path, body, '10S')).toBe(status.OK);
    expect(await h.db.prisma.subscription.count()).toBe(before + 1);
  });

  it('answers RESOURCE_EXHAUSTED with RetryInfo once a key has used its per-minute budget', async () => {
    const limited = await h.startGrpc({ rateLimitPerMinute: 3 });
    const client = insecureClient(SubscriptionServiceClient, limited.address);
    try {
      const list = () =>
        callAs(client, client.listSubscriptions, ListSubscriptionsRequest.fromPartial({}), OPERATOR_KEY);
      for (let i = 0; i < 3; i++) await list();
      const f = await failure(list());
      expect(f.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(f.retryInfo?.retryDelay?.seconds).toBeGreaterThanOrEqual(1);
      expect(f.retryInfo?.retryDelay?.seconds).toBeLessThanOrEqual(60);
      // Another key has its own budget.
      const other = await h.tenantKey('rate-other');
      await callAs(client, client.listSubscriptions, ListSubscriptionsRequest.fromPartial({}), other);
    } finally {
      client.close();
    }
  });

  it('serves TLS when given a certificate and key (self-signed, made by openssl)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'grpc-tls-'));
    try {
      const certFile = join(dir, 'cert.pem');
      const keyFile = join(dir, 'key.pem');
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:prime256v1',
          '-nodes',
          '-days',
          '1',
          '-subj',
          '/CN=localhost',
          '-addext',
          'subjectAltName=DNS:localhost,IP:127.0.0.1',
          '-keyout',
          keyFile,
          '-out',
          certFile,
        ],
        { stdio: 'pipe' },
      );
      const tls = await h.startGrpc({ tls: { certFile, keyFile } });
      expect(tls.tls).toBe(true);
      const creds = credentials.createSsl(readFileSync(certFile));
      // Dial the IP, verify the certificate's DNS name (TLS SNI takes no IP address).
      const sni = { 'grpc.ssl_target_name_override': 'localhost', 'grpc.default_authority': 'localhost' };
      expect(await healthStatus(tls.address, '', creds, sni)).toBe('SERVING');
      const client = new SubscriptionServiceClient(tls.address, creds, sni);
      try {
        const page = await callAs(
          client,
          client.listSubscriptions,
          ListSubscriptionsRequest.fromPartial({}),
          OPERATOR_KEY,
        );
        expect(Array.isArray(page.subscriptions)).toBe(true);
      } finally {
        client.close();
      }
      // A plaintext client does not get through.
      const plain = await healthStatus(tls.address).catch((e: ServiceError) => e.code);
      expect(plain).toBe(status.UNAVAILABLE);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

interface ReflectionResponse {
  listServicesResponse?: { service: { name: string }[] };
  fileDescriptorResponse?: { fileDescriptorProto: Uint8Array[] };
}

/** grpc.reflection.v1 over one stream: each request answered in order. */
function reflect(address: string, requests: Record<string, string>[]): Promise<ReflectionResponse[]> {
  const proto = require.resolve('@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto');
  const pkg = loadPackageDefinition(loadSync(proto)) as unknown as {
    grpc: { reflection: { v1: { ServerReflection: new (a: string, c: unknown) => ReflectionClient } } };
  };
  const client = new pkg.grpc.reflection.v1.ServerReflection(address, credentials.createInsecure());
  return new Promise<ReflectionResponse[]>((resolve, reject) => {
    const call = client.ServerReflectionInfo();
    const answers: ReflectionResponse[] = [];
    call.on('data', (r: ReflectionResponse) => {
      answers.push(r);
      if (answers.length === requests.length) call.end();
    });
    call.on('error', reject);
    call.on('end', () => resolve(answers));
    for (const r of requests) call.write(r);
  }).finally(() => client.close());
}

interface ReflectionClient {
  ServerReflectionInfo(): NodeJS.EventEmitter & { write(r: unknown): void; end(): void };
  close(): void;
}

/** One unary call over raw HTTP/2 with the given `grpc-timeout`; resolves with the grpc-status. */
function rawGrpc(address: string, path: string, message: Uint8Array, timeout: string): Promise<number> {
  const session = connect(`http://${address}`);
  return new Promise<number>((resolve, reject) => {
    const req = session.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
      'grpc-timeout': timeout,
      authorization: `Bearer ${OPERATOR_KEY}`,
    });
    let code: number | undefined;
    const take = (headers: Record<string, unknown>) => {
      if (headers['grpc-status'] !== undefined) code = Number(headers['grpc-status']);
    };
    req.on('response', take);
    req.on('trailers', take);
    req.on('data', () => {});
    req.on('error', reject);
    req.on('close', () => (code === undefined ? reject(new Error('no grpc-status')) : resolve(code)));
    const frame = Buffer.alloc(5 + message.length);
    frame.writeUInt32BE(message.length, 1);
    Buffer.from(message).copy(frame, 5);
    req.end(frame);
  }).finally(() => session.close());
}
