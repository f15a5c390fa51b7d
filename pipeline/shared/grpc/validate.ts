/**
 * gRPC requests are checked with the SAME zod schemas as the REST bodies (no rule written twice): a request is
 * mapped to the REST shape, parsed, and a failure becomes the same validation problem (status.ts turns it into
 * INVALID_ARGUMENT with field violations).
 */
import type { z } from 'zod';
import type { Timestamp } from '../../../schemas/proto/gen/google/protobuf/timestamp';
import { type FieldError, validationFailed } from '../http/problem';

/** FieldErrors in this location are already proto paths (e.g. `update_mask.paths[2]`): mappers keep them. */
export const PROTO_PATH = 'proto';

export function parseAs<S extends z.ZodType>(schema: S, value: unknown, location = 'body'): z.infer<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const errors: FieldError[] = r.error.issues.flatMap((issue) => {
    const base = issue.path.map(String);
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((k) => ({ in: location, path: [...base, k].join('.'), message: 'unknown field' }));
    }
    return [{ in: location, path: base.join('.'), message: issue.message }];
  });
  throw validationFailed(
    errors,
    `The request does not match the schema: ${errors
      .slice(0, 5)
      .map((e) => `${e.path || '(request)'}: ${e.message}`)
      .join('; ')}`,
  );
}

/** proto3 leaves unset strings empty: empty = not given. */
export const given = (s: string | undefined): string | undefined => (s === undefined || s === '' ? undefined : s);

/** Proto enum -> the REST literal: 0 (UNSPECIFIED) = not given; an unknown number stays visibly invalid. */
export function enumName(value: number, names: Record<number, string>): string | undefined {
  if (value === 0) return undefined;
  return names[value] ?? `UNRECOGNIZED(${value})`;
}

/** The resource id in `<collection>/{id}`, or a 400 at `field`. */
export function idOfName(name: string, collection: string, field = 'name'): string {
  const m = new RegExp(`^${collection}/([^/]{1,128})$`).exec(name);
  if (!m) {
    throw validationFailed([{ in: PROTO_PATH, path: field, message: `expected "${collection}/{id}"` }]);
  }
  return m[1]!;
}

export function toTimestamp(iso: string | null | undefined): Timestamp | undefined {
  if (!iso) return undefined;
  const ms = Date.parse(iso);
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 };
}
