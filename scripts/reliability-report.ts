/**
 * `npm run reliability:report [-- --write]`: prints the reliability results (reliability-results/<profile>/*.json,
 * written by the suite) as a markdown table per profile; with `--write`, replaces the generated part of
 * RELIABILITY.md (between the `<!-- results -->` markers) with it, stamped with the date and the machine.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';

/** One scenario's recorded result (written by test/reliability/report.ts). */
export interface ScenarioResult {
  /** Stable id, also the file name: `hard-kills`, `poison-corpus`, … */
  id: string;
  /** The issue's scenario number (1–11), for ordering the table. */
  order: number;
  title: string;
  /** Whether the scenario's pass criteria held (the test asserts the same criteria). */
  pass: boolean;
  /** The figures, in display order: `{ events: 5000, lost: 0, duplicates: '12 (0.08%)' }`. */
  figures: Record<string, string | number | boolean>;
  /** The pass criteria in words, shown beside the figures. */
  criteria: string;
}
type Row = ScenarioResult & { profile: string; at: string };

/** The repository root, from the source (scripts/) or the build (dist/scripts/). */
function repoRoot(from = __dirname): string {
  let dir = resolve(from);
  while (!existsSync(join(dir, 'package.json'))) dir = resolve(dir, '..');
  return dir;
}
const root = repoRoot();
const RESULTS = join(root, 'reliability-results');
const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function renderTable(rows: Row[]): string {
  const lines = ['| # | scenario | result | figures | pass criteria | run at |', '|---|---|---|---|---|---|'];
  for (const r of [...rows].sort((a, b) => a.order - b.order || a.id.localeCompare(b.id))) {
    const figures = Object.entries(r.figures)
      .map(([k, v]) => `${k}: ${v}`)
      .join('; ');
    lines.push(
      `| ${r.order} | ${cell(r.title)} | ${r.pass ? 'pass' : '**FAIL**'} | ${cell(figures)} | ${cell(r.criteria)} | ${r.at.slice(0, 16).replace('T', ' ')} |`,
    );
  }
  return lines.join('\n');
}

function load(profile: string): Row[] {
  const dir = join(RESULTS, profile);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Row);
}

function main() {
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  const parts: string[] = [];
  for (const profile of ['short', 'long']) {
    const rows = load(profile);
    if (rows.length === 0) continue;
    parts.push(`### Profile \`${profile}\` (${rows.length} scenarios; machine: ${machine})\n\n${renderTable(rows)}`);
  }
  if (parts.length === 0) {
    process.stderr.write(`no results under ${RESULTS}: run \`npm run test:reliability\` first\n`);
    process.exit(1);
  }
  const text = parts.join('\n\n');
  process.stdout.write(`${text}\n`);
  if (process.argv.includes('--write')) {
    const file = join(root, 'RELIABILITY.md');
    const doc = readFileSync(file, 'utf8');
    const start = '<!-- results -->';
    const end = '<!-- /results -->';
    const a = doc.indexOf(start);
    const b = doc.indexOf(end);
    if (a < 0 || b < a) throw new Error(`RELIABILITY.md has no ${start} … ${end} markers`);
    writeFileSync(file, `${doc.slice(0, a + start.length)}\n\n${text}\n\n${doc.slice(b)}`);
    process.stdout.write(`wrote the results into ${file}\n`);
  }
}

if (require.main === module) main();
