/** gRPC test clients: the generated stubs over a real channel (scripts/demo/grpc-client.ts), errors decoded. */
import type { ServiceError } from '@grpc/grpc-js';
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
