/**
 * Dependency direction, enforced in the test run (docs/ARCHITECTURE.md, habit 12):
 * - no circular imports between project modules;
 * - services never import each other (what they share lives in pipeline/shared/);
 * - pipeline/shared/ imports no service;
 * - domain files (found by rule: every source file of the services and pipeline/shared/ that is not an adapter by its
 *   name or folder) import no kafkajs, undici, Prisma, pg, fastify or gRPC, not even as types, and no adapter.
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
/**
 * Adapters, by rule: a file named `<port>.<technology>.ts`, a composition root (`main.ts`, `app.ts`: wiring a
 * fastify server), or a file in a folder that is an adapter by its role (`routes/`, `grpc/`, `console/` serve HTTP
 * or gRPC; `shared/kafka/`, `shared/http/`, `shared/grpc/` are the Kafka, fastify and gRPC plumbing).
 */
const ADAPTER_FILE =
  /\.(kafka|prisma|pg|undici|fastify|grpc|http|confluent)\.ts$|(^|\/)(main|app)\.ts$|(^|\/)(routes|grpc|console)\/|^pipeline\/shared\/(kafka|http|grpc)\//;
/** Domain files, by rule: every other source file of the services and of pipeline/shared/. */
const DOMAIN_ROOTS = /^(pipeline|subscription-api)\//;
const isDomain = (relPath: string) => DOMAIN_ROOTS.test(relPath) && !ADAPTER_FILE.test(relPath);
const FORBIDDEN_IN_DOMAIN =
  /^(kafkajs|undici|pg|fastify|@fastify\/.*|@prisma\/.*|@grpc\/.*)$|generated\/prisma|(^|\/)prisma\/client$/;
/**
 * Transitional re-exports of adapters from their ports, for `pipeline/outbox-processor/main.ts` until its rewrite
 * (issue 16, items 1-3) imports the adapters directly. Nothing else may be added here.
 */
const TRANSITIONAL_REEXPORTS = new Set<string>([]);
/**
 * Known violations, each with the work that removes it. The test fails on any violation not listed here, and on a
 * listed one that is gone (delete its line), so the list only shrinks.
 */
const KNOWN_VIOLATIONS = new Set([
  // Issue 16 item 4: services and edge helpers return domain errors; the routes map them to problems.
  'pipeline/event-processor/admit-events.ts imports adapter pipeline/shared/http/problem.ts',
  'pipeline/event-processor/http-inbound.ts imports type adapter pipeline/shared/http/create-app.ts',
  'pipeline/event-processor/http-inbound.ts imports adapter pipeline/shared/http/problem.ts',
  'pipeline/event-processor/inbound-event.ts imports type adapter pipeline/shared/http/problem.ts',
  'pipeline/shared/auth/api-key-routes.ts imports type adapter pipeline/shared/http/create-app.ts',
  'pipeline/shared/auth/api-key-routes.ts imports adapter pipeline/shared/http/problem.ts',
  // The API-key fastify hook and rate limit: to be named api-key-auth.fastify.ts (its verifier is the domain part).
  'pipeline/shared/auth/api-key-auth.ts imports @fastify/rate-limit',
  'pipeline/shared/auth/api-key-auth.ts imports type fastify',
  'pipeline/shared/auth/api-key-auth.ts imports adapter pipeline/shared/http/problem.ts',
]);

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
    packages: imports.filter((i) => !i.spec.startsWith('.') || /generated\/prisma|(^|\/)prisma\/client$/.test(i.spec)),
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

  it('derives domain files by rule: handlers, services, ports and pure helpers, not adapters', () => {
    const domain = files.map(rel).filter(isDomain);
    for (const f of [
      'pipeline/outbox-processor/handler.ts',
      'pipeline/shared/delivery/gate.ts',
      'pipeline/shared/delivery/send.ts',
      'pipeline/shared/subscriptions/directory.ts',
      'subscription-api/service.ts',
      'subscription-api/inbound-sources.ts',
      'subscription-api/errors.ts',
      'subscription-api/ports.ts',
      'pipeline/dlt-processor/handler.ts',
      'pipeline/dlt-processor/job-store.ts',
    ])
      expect(domain).toContain(f);
    for (const f of [
      'pipeline/shared/delivery/send.undici.ts',
      'pipeline/shared/subscriptions/directory.kafka.ts',
      'pipeline/event-processor/http-ingest.fastify.ts',
      'subscription-api/changelog-relay.kafka.ts',
      'subscription-api/routes/subscriptions.ts',
      'subscription-api/errors.http.ts',
      'pipeline/dlt-processor/job-store.prisma.ts',
      'pipeline/shared/kafka/client.ts',
    ])
      expect(domain).not.toContain(f);
  });

  it('counts HTTP problems as the edge’s: a domain file that imports shared/http/problem.ts is a violation', () => {
    // Use cases throw their own errors; the routes and the gRPC server map them (subscription-api/errors.http.ts).
    expect(ADAPTER_FILE.test('pipeline/shared/http/problem.ts')).toBe(true);
    const importers = files
      .filter((f) =>
        importsOf(f).some((i) => resolveLocal(f, i.spec) === join(root, 'pipeline/shared/http/problem.ts')),
      )
      .map(rel);
    expect(importers).toContain('subscription-api/errors.http.ts');
    expect(importers.filter(isDomain).filter((f) => f.startsWith('subscription-api/'))).toEqual([]);
  });

  it('catches value and type imports of adapter packages (kafkajs, undici, pg, fastify, Prisma, gRPC)', () => {
    const flagged = (src: string) =>
      [...src.matchAll(/^\s*(?:import|export)\s+(type\s+)?(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]/gm)]
        .map((m) => m[2]!)
        .filter((spec) => FORBIDDEN_IN_DOMAIN.test(spec));
    expect(flagged("import type { Consumer } from 'kafkajs';")).toEqual(['kafkajs']);
    expect(flagged("import { type FastifyInstance } from 'fastify';")).toEqual(['fastify']);
    expect(flagged("import type { PrismaClient } from '../../prisma/client';")).toEqual(['../../prisma/client']);
    expect(flagged("import { status } from '@grpc/grpc-js';")).toEqual(['@grpc/grpc-js']);
    expect(flagged("import { z } from 'zod';")).toEqual([]);
  });

  it('keeps domain files free of kafkajs, undici, Prisma, pg, fastify, gRPC and adapters (type imports included)', () => {
    const violations: string[] = [];
    for (const f of files) {
      const r = rel(f);
      if (!isDomain(r)) continue;
      const imports = importsOf(f);
      for (const p of imports.filter((i) => FORBIDDEN_IN_DOMAIN.test(i.spec)))
        violations.push(`${r} imports ${p.typeOnly ? 'type ' : ''}${p.spec}`);
      for (const i of imports) {
        const dep = resolveLocal(f, i.spec);
        if (!dep || !ADAPTER_FILE.test(rel(dep))) continue;
        if (TRANSITIONAL_REEXPORTS.has(`${r} -> ${rel(dep)}`)) continue;
        violations.push(`${r} imports ${i.typeOnly ? 'type ' : ''}adapter ${rel(dep)}`);
      }
    }
    expect(violations.filter((v) => !KNOWN_VIOLATIONS.has(v))).toEqual([]);
    expect([...KNOWN_VIOLATIONS].filter((v) => !violations.includes(v))).toEqual([]);
  });
});
