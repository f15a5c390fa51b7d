/** gRPC test clients: the generated stubs over a real channel (scripts/demo/grpc-client.ts), errors decoded. */
import { credentials, makeGenericClientConstructor, type ServiceError } from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { statusDetailsOf } from '../../pipeline/shared/grpc/status';

export { bearer, callAs, insecureClient, publishStream } from '../../scripts/demo/grpc-client';

/** The error of a call expected to fail, with its decoded google.rpc details. */
export async function failure(p: Promise<unknown>) {
  try {
    await p;
  } catch (err) {
    const e = err as ServiceError;
    const d = statusDetailsOf(e);
    return { code: e.code, details: e.details, violations: d.badRequest?.fieldViolations ?? [], ...d };
  }
  throw new Error('expected the call to fail');
}

const HealthClient = makeGenericClientConstructor(healthService, 'Health');
type HealthCheck = (
  req: { service: string },
  opts: { deadline: Date },
  cb: (err: ServiceError | null, res: { status: string }) => void,
) => void;

/** grpc.health.v1 Check of `service` ('' = the server as a whole): SERVING, NOT_SERVING, … */
export function healthStatus(
  address: string,
  service = '',
  creds = credentials.createInsecure(),
  options: Record<string, unknown> = {},
): Promise<string> {
  const client = new HealthClient(address, creds, options);
  const check = (client as unknown as { Check: HealthCheck }).Check.bind(client);
  return new Promise<string>((resolve, reject) =>
    check({ service }, { deadline: new Date(Date.now() + 10_000) }, (err, res) =>
      err ? reject(err) : resolve(res.status),
    ),
  ).finally(() => client.close());
}
