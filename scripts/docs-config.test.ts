import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { env } from '../pipeline/shared/config/load-config';
import {
  BEGIN_MARKER,
  configRows,
  configSections,
  END_MARKER,
  generatedSection,
  renderConfigReference,
  repoRoot,
  spliceReadme,
} from './docs-config';

describe('README configuration reference', () => {
  it('matches what the zod schemas render', () => {
    const readme = readFileSync(join(repoRoot(), 'README.md'), 'utf8');
    const committed = generatedSection(readme);
    const rendered = renderConfigReference();
    if (committed !== rendered)
      throw new Error(
        committed === undefined
          ? `README.md has no ${BEGIN_MARKER} … ${END_MARKER} pair: put the markers in the Configuration section and run \`npm run docs:config\``
          : 'README.md configuration tables are stale (a service config.ts changed): run `npm run docs:config` and commit README.md',
      );
  });

  it('is deterministic', () => {
    expect(renderConfigReference()).toBe(renderConfigReference());
  });

  it('lists a shared variable once, unless a service redefines it', () => {
    const [common, ...services] = configSections();
    expect(common!.rows.map((r) => r.variable)).toContain('`KAFKA_BROKERS`');
    for (const s of services) expect(s.rows.map((r) => r.variable)).not.toContain('`KAFKA_BROKERS`');
  });
});

describe('configRows', () => {
  const shape = {
    COUNT: env.int(3, 1, 50).describe('How many.'),
    OPEN: env.int(500, 0).describe('Open-ended.'),
    RATIO: z.coerce.number().min(0).max(1).default(0.5),
    FLAG: env.bool(false).describe('A flag.'),
    HOSTS: env.list([]).describe('Some | hosts.'),
    LEVEL: z.enum(['a', 'b']).default('a'),
    URL: z.url().optional(),
    ID: z
      .string()
      .regex(/^[a-z]+$/)
      .optional(),
    SECRET: z.string().min(24).optional(),
    NEEDED: z.string().min(1),
  };

  it('renders type, default and description from the schema', () => {
    const rows = Object.fromEntries(configRows(shape).map((r) => [r.variable, r]));
    expect(rows['`COUNT`']).toEqual({
      variable: '`COUNT`',
      type: 'integer 1–50',
      default: '`3`',
      description: 'How many.',
    });
    expect(rows['`OPEN`']!.type).toBe('integer ≥ 0');
    expect(rows['`RATIO`']).toMatchObject({ type: 'number 0–1', default: '`0.5`', description: '' });
    expect(rows['`FLAG`']).toMatchObject({ type: 'boolean', default: '`false`' });
    expect(rows['`HOSTS`']).toMatchObject({ type: 'list', default: 'empty' });
    expect(rows['`LEVEL`']!.type).toBe('one of `a`, `b`');
    expect(rows['`URL`']).toMatchObject({ type: 'URL', default: 'unset' });
    expect(rows['`ID`']!.type).toBe('string matching `^[a-z]+$`');
    expect(rows['`SECRET`']!.type).toBe('string, ≥ 24 characters');
    expect(rows['`NEEDED`']).toMatchObject({ type: 'string', default: '**required**' });
  });

  it('escapes pipes in cells', () => {
    const text = renderConfigReference([{ title: 't', rows: configRows({ HOSTS: shape.HOSTS }) }]);
    expect(text).toContain('Some \\| hosts.');
  });
});

describe('spliceReadme', () => {
  it('replaces the text between the markers and nothing else', () => {
    const readme = `# x\n\n${BEGIN_MARKER}\n\nold\n\n${END_MARKER}\n\n## next\n`;
    expect(spliceReadme(readme, 'new')).toBe(`# x\n\n${BEGIN_MARKER}\n\nnew\n\n${END_MARKER}\n\n## next\n`);
  });

  it('turns a lone placeholder marker into a begin/end pair', () => {
    const readme = `# x\n\n${BEGIN_MARKER}\n\n## next\n`;
    const out = spliceReadme(readme, 'new');
    expect(out).toBe(`# x\n\n${BEGIN_MARKER}\n\nnew\n\n${END_MARKER}\n\n## next\n`);
    expect(generatedSection(out)).toBe('new');
  });

  it('refuses a README without the marker', () => {
    expect(() => spliceReadme('# x\n', 'new')).toThrow(/SERVICE-CONFIG-TABLES/);
  });
});
