/** The table `npm start` prints once the hub is ready (no secrets). */

import { SERVICE_NAMES, SERVICES } from './services';
import type { Hub } from './start-hub';
import { redactUrl } from './start-hub';

export function formatSummary(
  hub: Pick<Hub, 'urls' | 'kafka' | 'postgres' | 'topics' | 'secretsFile' | 'schemaRegistry'>,
  dataDir = '.data',
): string {
  const rows: [string, string, string][] = [];
  for (const name of SERVICE_NAMES) {
    const u = hub.urls[name];
    if (!u) continue;
    rows.push([name, u.docs ? 'API' : 'base', u.url]);
    if (u.docs) rows.push(['', 'docs', u.docs]);
    if (u.grpc) rows.push(['', 'gRPC', `${u.grpc}  (reflection, grpc.health.v1)`]);
    rows.push(['', 'metrics', u.metrics]);
    rows.push(['', 'health', `${u.healthz}  ${u.readyz}`]);
  }
  const w0 = Math.max(...rows.map((r) => r[0].length), 'service'.length);
  const w1 = Math.max(...rows.map((r) => r[1].length));
  const lines = [
    '',
    'Integration Hub is running.',
    '',
    ...rows.map(([a, b, c]) => `  ${a.padEnd(w0)}  ${b.padEnd(w1)}  ${c}`),
    '',
    `  Kafka     ${hub.kafka.brokers}${hub.kafka.local ? `  (local broker, data in ${dataDir}/kafka)` : ''}`,
    `  Postgres  ${redactUrl(hub.postgres.url)}${hub.postgres.embedded ? `  (embedded, data in ${dataDir}/postgres)` : ''}`,
    ...(hub.schemaRegistry ? [`  Registry  ${hub.schemaRegistry}  (local Apicurio Registry, schemas in memory)`] : []),
    `  Topics    ingest ${hub.topics.ingest}; hub topics ${hub.topics.prefix}.*`,
  ];
  if (hub.secretsFile) lines.push(`  Secrets   operator API key and encryption key in ${hub.secretsFile}`);
  lines.push('', '  Next: `npm run demo` in another terminal. Ctrl-C stops everything.', '');
  return lines.join('\n');
}

export function serviceRoles(): string {
  return SERVICE_NAMES.map((n) => `  ${n.padEnd(17)} ${SERVICES[n].role}`).join('\n');
}
