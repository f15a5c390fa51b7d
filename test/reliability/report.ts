/**
 * Each reliability scenario records what it measured (and whether it passed) as one JSON file under
 * `reliability-results/<profile>/`; `npm run reliability:report` turns the files into the table in RELIABILITY.md.
 * Recording happens before the scenario's assertions, so a failing scenario still leaves its figures behind.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ScenarioResult } from '../../scripts/reliability-report';
import { PROFILE } from './profile';

export type { ScenarioResult };

export const RESULTS_DIR = resolve(__dirname, '..', '..', 'reliability-results');

export function recordScenario(result: ScenarioResult): void {
  const dir = join(RESULTS_DIR, PROFILE);
  mkdirSync(dir, { recursive: true });
  const full = { ...result, profile: PROFILE, at: new Date().toISOString() };
  writeFileSync(join(dir, `${result.id}.json`), `${JSON.stringify(full, null, 2)}\n`);
  const figures = Object.entries(result.figures)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  process.stdout.write(`[reliability:${PROFILE}] ${result.pass ? 'PASS' : 'FAIL'} ${result.id}: ${figures}\n`);
}
