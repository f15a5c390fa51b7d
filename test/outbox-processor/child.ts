/**
 * A real service entry point (`pipeline/<service>/main.ts`, the outbox-processor by default, or
 * `subscription-api/main.ts`) as a child process.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '../..');

export interface Child {
  proc: ChildProcess;
  /** The last 300 lines of its stdout and stderr. */
  output: string[];
  exited: Promise<number | null>;
}

export function spawnProcessor(
  env: Record<string, string>,
  service: 'outbox-processor' | 'dlt-processor' | 'subscription-api' = 'outbox-processor',
): Child {
  const main = service === 'subscription-api' ? 'subscription-api/main.ts' : `pipeline/${service}/main.ts`;
  const proc = spawn(process.execPath, ['-r', join(ROOT, 'test/support/swc-register.js'), join(ROOT, main)], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const keep = (chunk: Buffer) => {
    output.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    if (output.length > 300) output.splice(0, output.length - 300);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return { proc, output, exited };
}

/** SIGKILLs the child if it still runs. */
export async function killChild(child: Child | undefined): Promise<void> {
  if (child && child.proc.exitCode === null) {
    child.proc.kill('SIGKILL');
    await child.exited;
  }
}
