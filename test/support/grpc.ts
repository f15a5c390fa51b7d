/** gRPC test clients: the generated stubs over a real channel, promisified, with the API key as metadata. */
import { type Client, credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { statusDetailsOf } from '../../pipeline/shared/grpc/status';

export function bearer(key: string): Metadata {
  const md = new Metadata();
  md.set('authorization', `Bearer ${key}`);
  return md;
}

type UnaryMethod<Req, Res> = (
  req: Req,
  md: Metadata,
  opts: { deadline?: Date },
  cb: (err: ServiceError | null, res: Res) => void,
) => unknown;

/** `call(client.getSubscription, req, key)` -> the response, or rejects with the ServiceError. */
export function callAs<Req, Res>(client: Client, method: UnaryMethod<Req, Res>, req: Req, key: string): Promise<Res> {
  return new Promise((resolve, reject) =>
    method.call(client, req, bearer(key), { deadline: new Date(Date.now() + 10_000) }, (err, res) =>
      err ? reject(err) : resolve(res),
    ),
  );
}

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

export function insecureClient<C extends Client>(
  Ctor: new (address: string, creds: ReturnType<typeof credentials.createInsecure>) => C,
  address: string,
): C {
  return new Ctor(address, credentials.createInsecure());
}
