/**
 * `npm run docs:config [-- --check]`: renders the configuration reference of every service from its zod schema
 * (the `config.ts` beside its `main.ts`) and writes it into README.md between the `<!-- SERVICE-CONFIG-TABLES -->`
 * and `<!-- /SERVICE-CONFIG-TABLES -->` markers. With `--check` it writes nothing and exits 1 when README.md is stale
 * (`scripts/docs-config.test.ts` checks the same in the unit tests).
 *
 *   schema ─▶ z.toJSONSchema (input side: what the environment may hold) ─▶ one row per variable:
 *   name · type / allowed values (integer range, enum, boolean, list, URL, pattern) · default · `.describe()` text
 *
 * Variables every service takes from `commonEnv` (the same schema object) are listed once, in the first table;
 * a service that redefines one lists it in its own table. Rows keep the schema's order; the output depends on the
 * schemas only (no clock, no host), so the check is stable.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { dltConfigSchema } from '../pipeline/dlt-processor/config';
import { eventProcessorEnv } from '../pipeline/event-processor/config';
import { outboxConfigSchema } from '../pipeline/outbox-processor/config';
import { commonEnv, ENV_FORMAT_LIST } from '../pipeline/shared/config/load-config';
import { subscriptionApiEnv } from '../subscription-api/config';

export const BEGIN_MARKER = '<!-- SERVICE-CONFIG-TABLES -->';
export const END_MARKER = '<!-- /SERVICE-CONFIG-TABLES -->';

export interface ServiceConfig {
  /** Heading of the table: the service name. */
  name: string;
  /** Where the schema lives, relative to the repository root (shown in the heading). */
  file: string;
  shape: Record<string, z.ZodType>;
}

/** Every service, in pipeline order. A new service with a `config.ts` is added here. */
export const SERVICES: ServiceConfig[] = [
  { name: 'subscription-api', file: 'subscription-api/config.ts', shape: subscriptionApiEnv.shape },
  { name: 'event-processor', file: 'pipeline/event-processor/config.ts', shape: eventProcessorEnv.shape },
  { name: 'outbox-processor', file: 'pipeline/outbox-processor/config.ts', shape: outboxConfigSchema.shape },
  { name: 'dlt-processor', file: 'pipeline/dlt-processor/config.ts', shape: dltConfigSchema.shape },
];

const COMMON: ServiceConfig = {
  name: 'Every service',
  file: 'pipeline/shared/config/load-config.ts',
  shape: commonEnv,
};

/** The JSON Schema keywords z.toJSONSchema emits for the env helpers, plus our list marker. */
interface PropertySchema {
  type?: string;
  enum?: unknown[];
  default?: unknown;
  description?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  pattern?: string;
  format?: string;
  envFormat?: string;
}

export interface ConfigRow {
  variable: string;
  type: string;
  default: string;
  description: string;
}

const BOOLEAN_WORDS = ['true', 'false', '1', '0', 'yes', 'no'];
const code = (v: unknown) => `\`${String(v)}\``;

function typeOf(p: PropertySchema): string {
  if (p.envFormat === ENV_FORMAT_LIST) return 'list';
  if (Array.isArray(p.enum)) {
    const values = p.enum.map(String);
    if (values.length === BOOLEAN_WORDS.length && BOOLEAN_WORDS.every((w) => values.includes(w))) return 'boolean';
    return `one of ${values.map(code).join(', ')}`;
  }
  if (p.type === 'integer' || p.type === 'number') {
    const min = p.minimum;
    const max = p.maximum !== undefined && p.maximum < Number.MAX_SAFE_INTEGER ? p.maximum : undefined;
    if (min !== undefined && max !== undefined) return `${p.type} ${min}–${max}`;
    if (min !== undefined) return `${p.type} ≥ ${min}`;
    if (max !== undefined) return `${p.type} ≤ ${max}`;
    return p.type;
  }
  if (p.type === 'string') {
    if (p.format === 'uri') return 'URL';
    if (p.pattern !== undefined) return `string matching ${code(p.pattern)}`;
    if (p.minLength !== undefined && p.minLength > 1) return `string, ≥ ${p.minLength} characters`;
    return 'string';
  }
  return p.type ?? 'any';
}

function defaultOf(p: PropertySchema, required: boolean): string {
  if (p.default !== undefined) return p.default === '' ? 'empty' : code(p.default);
  return required ? '**required**' : 'unset';
}

/** The rows of one schema shape, in its order; `skip` leaves out variables listed elsewhere. */
export function configRows(
  shape: Record<string, z.ZodType>,
  skip: (name: string) => boolean = () => false,
): ConfigRow[] {
  const json = z.toJSONSchema(z.object(shape), { io: 'input', unrepresentable: 'any' }) as {
    properties?: Record<string, PropertySchema>;
    required?: string[];
  };
  const required = new Set(json.required ?? []);
  return Object.keys(shape)
    .filter((name) => !skip(name))
    .map((name) => {
      const p = json.properties?.[name] ?? {};
      return {
        variable: code(name),
        type: typeOf(p),
        default: defaultOf(p, required.has(name)),
        description: (p.description ?? '').trim(),
      };
    });
}

const cell = (s: string) => s.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|');

/** A markdown table with padded columns (as the hand-written tables of the README). */
export function renderTable(rows: ConfigRow[]): string {
  const header = ['variable', 'type / allowed values', 'default', 'description'];
  const body = rows.map((r) => [r.variable, r.type, r.default, r.description].map(cell));
  const widths = header.map((h, i) => Math.max(h.length, 3, ...body.map((cells) => cells[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...body.map(line)].join('\n');
}

/** One table of the reference: the shared variables, then each service's own. */
export interface ConfigSection {
  title: string;
  rows: ConfigRow[];
}

export function configSections(services: ServiceConfig[] = SERVICES, common: ServiceConfig = COMMON): ConfigSection[] {
  const title = (s: ServiceConfig) => `${s.name} (\`${s.file}\`)`;
  return [
    { title: title(common), rows: configRows(common.shape) },
    ...services.map((s) => ({
      title: title(s),
      rows: configRows(s.shape, (name) => Object.hasOwn(common.shape, name) && common.shape[name] === s.shape[name]),
    })),
  ];
}

/** The whole generated reference (what goes between the markers). */
export function renderConfigReference(sections: ConfigSection[] = configSections()): string {
  const parts = [
    '<!-- Generated by `npm run docs:config` from the zod schemas: edit the schemas (`.describe()`), not this text. -->',
    'Generated from each service’s zod schema. Every service reads the first table’s variables as well as its own. ' +
      'Booleans take `true`/`false`, `1`/`0` or `yes`/`no`; lists are comma-separated; a **required** variable ' +
      'has no default and the service refuses to start without it; an unset optional one switches its feature off ' +
      'or falls back as described.',
  ];
  for (const s of sections) parts.push(`### ${s.title}`, renderTable(s.rows));
  return parts.join('\n\n');
}

/** The text between the markers, or undefined when the README has no begin/end pair. */
export function generatedSection(readme: string): string | undefined {
  const a = readme.indexOf(BEGIN_MARKER);
  const b = readme.indexOf(END_MARKER);
  if (a < 0 || b < a) return undefined;
  return readme.slice(a + BEGIN_MARKER.length, b).trim();
}

/** README with `generated` between the markers; a lone begin marker (the old placeholder) gets its end marker. */
export function spliceReadme(readme: string, generated: string): string {
  const a = readme.indexOf(BEGIN_MARKER);
  if (a < 0)
    throw new Error(`README.md has no ${BEGIN_MARKER} marker (put it, and ${END_MARKER}, where the tables go)`);
  const b = readme.indexOf(END_MARKER);
  const rest = b > a ? readme.slice(b) : `${END_MARKER}${readme.slice(a + BEGIN_MARKER.length)}`;
  return `${readme.slice(0, a + BEGIN_MARKER.length)}\n\n${generated}\n\n${rest}`;
}

/** The repository root, from the source (scripts/) or the build (dist/scripts/). */
export function repoRoot(from = __dirname): string {
  let dir = resolve(from);
  while (!existsSync(join(dir, 'package.json'))) dir = resolve(dir, '..');
  return dir;
}

function main(): void {
  const file = join(repoRoot(), 'README.md');
  const readme = readFileSync(file, 'utf8');
  const sections = configSections();
  const generated = renderConfigReference(sections);
  const undescribed = sections.flatMap((s) => s.rows.filter((r) => r.description === '').map((r) => r.variable));
  if (undescribed.length > 0)
    process.stderr.write(`variables without a .describe() (empty description): ${undescribed.join(', ')}\n`);
  const stale = generatedSection(readme) !== generated;
  if (process.argv.includes('--check')) {
    if (stale) {
      process.stderr.write('README.md configuration tables are stale: run `npm run docs:config`\n');
      process.exit(1);
    }
    process.stdout.write('README.md configuration tables are up to date\n');
    return;
  }
  if (!stale) {
    process.stdout.write('README.md configuration tables are up to date\n');
    return;
  }
  writeFileSync(file, spliceReadme(readme, generated));
  process.stdout.write(`wrote the configuration tables of ${SERVICES.length} services into ${file}\n`);
}

if (require.main === module) main();
