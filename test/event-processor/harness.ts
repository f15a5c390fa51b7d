/**
 * Event-processor test harness: a unique prefix, ingest topic and group per test; subscriptions published straight
 * onto the test's changelog topic (encodeSnapshot), so no subscription-api is needed; the real main wiring.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import pino from 'pino';
import { loadEventProcessorConfig } from '../../pipeline/event-processor/config';
import { type EventProcessor, startEventProcessor } from '../../pipeline/event-processor/main';
import { encodeSnapshot, type SubscriptionSnapshot } from '../../pipeline/shared/subscriptions/snapshot';
import { type TopicNames, topicNames } from '../../pipeline/shared/topics';
import type { FixtureRecord } from '../fixtures/platform-events';
import { brokers, createTopic, testKafka, uniqueName } from '../support/kafka';

export interface ProcessorScenario {
  prefix: string;
  ingestTopic: string;
  groupId: string;
  topics: TopicNames;
  /** Env the processor runs with (also for child processes). */
  env: Record<string, string>;
}

export function aScenario(name: string, env: Record<string, string> = {}): ProcessorScenario {
  const prefix = uniqueName(`ep-${name}`);
  const ingestTopic = `${prefix}.platform.events.v1`;
  const groupId = `${prefix}-processor`;
  return {
    prefix,
    ingestTopic,
    groupId,
    topics: topicNames(prefix),
    env: {
      KAFKA_BROKERS: brokers().join(','),
      TOPIC_PREFIX: prefix,
      INGEST_TOPICS: ingestTopic,
      GROUP_ID: groupId,
      INSTANCE_ID: 'test-0',
      PORT: '0',
      // Any free port: test files run in parallel, and a fixed default would collide.
      GRPC_PORT: '0',
      HOST: '127.0.0.1',
      TOPIC_PARTITIONS: '3',
      KAFKA_SESSION_TIMEOUT_MS: '6000',
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      ...env,
    },
  };
}

/** Creates the compacted changelog (and the ingest topic) and publishes the snapshots (before the processor starts: it reads them all). */
export async function publishSubscriptions(s: ProcessorScenario, snapshots: SubscriptionSnapshot[]): Promise<void> {
  const admin = testKafka().admin();
  await admin.connect();
  const existing = await admin.listTopics();
  await admin.disconnect();
  if (!existing.includes(s.topics.subscriptions)) await createTopic(s.topics.subscriptions, 3, true);
  if (!existing.includes(s.ingestTopic)) await createTopic(s.ingestTopic, 3);
  if (snapshots.length === 0) return;
  const producer = testKafka().producer();
  await producer.connect();
  await producer.send({
    topic: s.topics.subscriptions,
    acks: -1,
    messages: snapshots.map((snap) => ({ key: snap.id, value: encodeSnapshot(snap) })),
  });
  await producer.disconnect();
}

export async function startProcessor(
  s: ProcessorScenario,
  env: Record<string, string> = {},
  /** Where its log lines go (JSON lines), e.g. a `captureLogs()` sink; silent by default (TEST_LOG_LEVEL). */
  destination?: pino.DestinationStream,
): Promise<EventProcessor> {
  const config = loadEventProcessorConfig({ ...s.env, ...env });
  const log = pino({ level: config.LOG_LEVEL }, destination);
  return startEventProcessor(config, log);
}

export interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

/** A pino destination that keeps every line, parsed: for assertions on what a service logged. */
export function captureLogs(): { destination: pino.DestinationStream; lines: LogLine[] } {
  const lines: LogLine[] = [];
  return {
    lines,
    destination: {
      write(chunk: string) {
        for (const line of chunk.split('\n')) if (line.trim()) lines.push(JSON.parse(line) as LogLine);
      },
    },
  };
}

export async function produceIngest(s: ProcessorScenario, records: FixtureRecord[]): Promise<void> {
  const producer = testKafka().producer();
  await producer.connect();
  // One partition for the lot keeps "the good records around the poison" in one ordered stream.
  await producer.send({
    topic: s.ingestTopic,
    acks: -1,
    messages: records.map((r) => ({ key: r.key, value: r.value, headers: r.headers, partition: 0 })),
  });
  await producer.disconnect();
}

const ROOT = resolve(__dirname, '..', '..');

export interface ProcessorChild {
  proc: ChildProcess;
  output: string[];
  exited: Promise<number | null>;
}

/** The processor as a real child process (its own main.ts, env config), as a supervisor would run it. */
export function spawnProcessor(s: ProcessorScenario, env: Record<string, string> = {}): ProcessorChild {
  const proc = spawn(
    process.execPath,
    ['-r', join(ROOT, 'test/support/swc-register.js'), join(ROOT, 'pipeline/event-processor/main.ts')],
    {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        ...s.env,
        LOG_LEVEL: 'info',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const output: string[] = [];
  const keep = (chunk: Buffer) => {
    output.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    if (output.length > 500) output.splice(0, output.length - 500);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return { proc, output, exited };
}

/** Waits for `p`, failing at once (with the child's last output) if the child exits first. */
export async function whileAlive<T>(c: ProcessorChild, p: Promise<T>): Promise<T> {
  const died = c.exited.then((code) => {
    throw new Error(`the processor exited (code ${code}) early:\n${c.output.slice(-20).join('\n')}`);
  });
  died.catch(() => {});
  try {
    return await Promise.race([p, died]);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${c.output.slice(-20).join('\n')}`);
  }
}
