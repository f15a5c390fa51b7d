/**
 * Validators of the facts' JSON Schemas (schemas/facts/), for tests and tools: `validateFact(event)` lists what
 * does not fit, empty when the CloudEvent is valid against its family's schema. ajv (draft-07) and ajv-formats come
 * with fastify; they are not a direct dependency, so only tests use them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { FACT_SCHEMAS, type FactName } from '../../pipeline/shared/facts/fact';

const ROOT = join(__dirname, '..', '..');
let validators: Map<FactName, ValidateFunction> | undefined;

function load(): Map<FactName, ValidateFunction> {
  const ajv = new Ajv({ allErrors: true, strict: true });
  // ajv-formats is typed against the ajv 8 that fastify nests; at run time it extends ajv 7 all the same.
  addFormats(ajv as never);
  const out = new Map<FactName, ValidateFunction>();
  for (const [name, path] of Object.entries(FACT_SCHEMAS) as [FactName, string][])
    out.set(name, ajv.compile(JSON.parse(readFileSync(join(ROOT, path), 'utf8'))));
  return out;
}

/** What is wrong with `event` as a fact (its `data.fact` picks the schema); [] when it is valid. */
export function validateFact(event: unknown): string[] {
  validators ??= load();
  const name = (event as { data?: { fact?: unknown } })?.data?.fact;
  const validate = validators.get(name as FactName);
  if (!validate) return [`data.fact is not a known fact: ${String(name)}`];
  if (validate(event)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? 'invalid'}`);
}
