/**
 * Dependency direction, enforced in the test run (docs/ARCHITECTURE.md, habit 12):
 * - no circular imports between project modules;
 * - services never import each other (what they share lives in pipeline/shared/);
 * - pipeline/shared/ imports no service;
 * - domain files (pure use cases and helpers) import no kafkajs, undici, Prisma, pg or fastify, and no adapter.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const root = resolve(__dirname, '../..');
const SOURCE_DIRS = ['pipeline', 'subscription-api', 'prisma', 'scripts', 'bench'];
const SERVICES = [
  'pipeline/event-processor',
  'pipeline/outbox-processor',
  'pipeline/dlt-processor',
  'subscription-api',
];
const DOMAIN_FILE =
  /(^|\/)(handler|build-request|classify-response|retry-policy|circuit-breaker|sign|decode-input|subscription-index|snapshot|envelope|routing|errors|outcome|topics|service|inbound-source|inbound-sources|inbound-verify|inbound-event)\.ts$/;
const ADAPTER_FILE = /\.(kafka|prisma|undici|fastify|http)\.ts$|(^|\/)main\.ts$/;
const FORBIDDEN_IN_DOMAIN = /^(kafkajs|undici|pg|fastify|@fastify\/.*|@prisma\/.*)$|generated\/prisma/;

function walk(dir: string, out: string[] = []): string[] {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist' || name === 'generated') continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (p.endsWith('.ts') && !p.endsWith('.test.ts') && !p.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

interface Import {
  spec: string;
  typeOnly: boolean;
}

function importsOf(file: string): Import[] {
  const src = readFileSync(file, 'utf8');
  const out: Import[] = [];
  const re = /^\s*(?:import|export)\s+(type\s+)?(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]/gm;
  for (let m = re.exec(src); m; m = re.exec(src)) out.push({ spec: m[2]!, typeOnly: Boolean(m[1]) });
  const req = /\brequire\(\s*['"]([^'"]+)['"]\s*\)/g;
  for (let m = req.exec(src); m; m = req.exec(src)) out.push({ spec: m[1]!, typeOnly: false });
  return out;
}

function resolveLocal(from: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const base = resolve(dirname(from), spec.replace(/\.js$/, ''));
  for (const candidate of [`${base}.ts`, join(base, 'index.ts')]) if (existsSync(candidate)) return candidate;
  return undefined;
}

const files = SOURCE_DIRS.flatMap((d) => walk(join(root, d)));
const rel = (f: string) => relative(root, f);
const graph = new Map<string, { local: string[]; packages: Import[] }>();
for (const f of files) {
  const imports = importsOf(f);
  graph.set(f, {
    local: imports
      .filter((i) => !i.typeOnly)
      .map((i) => resolveLocal(f, i.spec))
      .filter((x): x is string => Boolean(x)),
    packages: imports.filter((i) => !i.spec.startsWith('.') || /generated\/prisma/.test(i.spec)),
  });
}
const serviceOf = (f: string) => SERVICES.find((s) => rel(f).startsWith(`${s}/`));

describe('architecture', () => {
  it('finds the source files', () => {
    expect(files.length).toBeGreaterThan(10);
  });

  it('has no circular imports', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const stack: string[] = [];
    const visit = (f: string) => {
      if (state.get(f) === 'done') return;
      if (state.get(f) === 'visiting') {
        cycles.push([...stack.slice(stack.indexOf(f)), f].map(rel).join(' -> '));
        return;
      }
      state.set(f, 'visiting');
      stack.push(f);
      for (const dep of graph.get(f)?.local ?? []) visit(dep);
      stack.pop();
      state.set(f, 'done');
    };
    for (const f of files) visit(f);
    expect(cycles).toEqual([]);
  });

  it('keeps services from importing each other, and shared code from importing services', () => {
    const violations: string[] = [];
    for (const [f, { local }] of graph) {
      const own = serviceOf(f);
      const inShared = rel(f).startsWith('pipeline/shared/');
      for (const dep of local) {
        const target = serviceOf(dep);
        if (target && target !== own && (own || inShared)) violations.push(`${rel(f)} imports ${rel(dep)}`);
      }
    }
    expect(violations).toEqual([]);
  });

  it('keeps domain files free of kafkajs, undici, Prisma, pg, fastify and adapters', () => {
    const violations: string[] = [];
    for (const [f, { local, packages }] of graph) {
      if (!DOMAIN_FILE.test(rel(f))) continue;
      for (const p of packages)
        if (!p.typeOnly && FORBIDDEN_IN_DOMAIN.test(p.spec)) violations.push(`${rel(f)} imports ${p.spec}`);
      for (const dep of local)
        if (ADAPTER_FILE.test(rel(dep))) violations.push(`${rel(f)} imports adapter ${rel(dep)}`);
    }
    expect(violations).toEqual([]);
  });
});
