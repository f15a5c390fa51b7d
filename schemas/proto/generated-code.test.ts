/**
 * The committed stubs in schemas/proto/gen are what `npm run proto:generate` makes from the .proto files today:
 * buf generates into a temporary directory with the same template (buf.gen.yaml, output redirected) and every
 * file must match. Fails with the files that differ; the fix is `npm run proto:generate` and a commit.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../..');
const COMMITTED = join(ROOT, 'schemas/proto/gen');

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

describe('generated gRPC/protobuf code', () => {
  it('is up to date with the .proto files (npm run proto:generate)', () => {
    const out = mkdtempSync(join(tmpdir(), 'proto-gen-'));
    try {
      const template = readFileSync(join(ROOT, 'buf.gen.yaml'), 'utf8');
      expect(template).toMatch(/^\s+out: schemas\/proto\/gen$/m);
      execFileSync(
        join(ROOT, 'node_modules/.bin/buf'),
        ['generate', '--template', template.replace(/^(\s+out: ).*$/m, `$1${out}`)],
        { cwd: ROOT, stdio: 'pipe', timeout: 60_000 },
      );
      expect(files(COMMITTED)).toEqual(files(out));
      const stale = files(out).filter(
        (f) => readFileSync(join(out, f), 'utf8') !== readFileSync(join(COMMITTED, f), 'utf8'),
      );
      expect(stale).toEqual([]);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
