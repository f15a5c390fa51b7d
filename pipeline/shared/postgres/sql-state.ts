/**
 * Postgres errors by their SQLSTATE, whichever client reported them: node-postgres puts the code on the error
 * (`code`), Prisma's pg driver adapter under `meta.driverAdapterError.cause`. The stores use it to tell a record
 * Postgres refuses (trying it again cannot help) from Postgres being away or busy.
 */
import { RecordRefusedError } from '../parked/failure-store';

const SQLSTATE = /^[0-9A-Z]{5}$/;

/** Data exception (22), integrity constraint (23), program limit e.g. index row size (54): the data is at fault. */
const DATA_FAULT = /^(22|23|54)/;

/** The SQLSTATE of a Postgres error, from node-postgres or through Prisma's adapter; undefined for anything else. */
export function sqlStateOf(err: unknown): string | undefined {
  const e = err as {
    code?: unknown;
    meta?: { driverAdapterError?: { cause?: { originalCode?: string; code?: string } } };
  } | null;
  const cause = e?.meta?.driverAdapterError?.cause;
  const code = cause?.originalCode ?? cause?.code ?? e?.code;
  return typeof code === 'string' && SQLSTATE.test(code) ? code : undefined;
}

/** A data fault as RecordRefusedError (trying the same data again cannot help); anything else as it is. */
export function refusedOr(err: unknown): unknown {
  if (err instanceof RecordRefusedError) return err;
  const state = sqlStateOf(err);
  return state && DATA_FAULT.test(state) ? new RecordRefusedError((err as Error).message, state) : err;
}
