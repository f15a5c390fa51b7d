/**
 * The local broker's lifecycle (scripts/local-kafka.ts), with brokers of its own besides the shared test broker:
 * restart on the same data directory, a port in use, a broker that never becomes ready.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { freePort, LocalKafkaError, startLocalKafka } from '../../scripts/local-kafka';
import { uniqueName, waitFor } from '../support/kafka';

// Each test starts (and stops) a JVM of its own; on a busy 2-core box that takes a while.
jest.setTimeout(120_000);

function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('the local Kafka broker', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('keeps topics, records and committed offsets across a restart on the same data directory', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'hub-kafka-restart-'));
    dirs.push(dataDir);
    const topic = uniqueName('restart');
    const groupId = uniqueName('g');

    const first = await startLocalKafka({ dataDir, heapMb: 384 });
    const kafka1 = new Kafka({ brokers: [first.brokers], clientId: 'restart-test', logLevel: logLevel.NOTHING });
    const admin = kafka1.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    await admin.setOffsets({ groupId, topic, partitions: [{ partition: 0, offset: '3' }] });
    await admin.disconnect();
    const producer = kafka1.producer({ idempotent: true });
    await producer.connect();
    await producer.send({ topic, acks: -1, messages: ['a', 'b', 'c', 'd', 'e'].map((value) => ({ value })) });
    await producer.disconnect();
    await first.stop();
    expect(alive(first.pid)).toBe(false);

    const second = await startLocalKafka({ dataDir, heapMb: 384 });
    try {
      // Same ports (saved in the data dir), so clients configured before the restart reconnect.
      expect(second.brokers).toBe(first.brokers);
      const kafka2 = new Kafka({ brokers: [second.brokers], clientId: 'restart-test', logLevel: logLevel.NOTHING });
      const consumer = kafka2.consumer({ groupId, maxWaitTimeInMs: 100 });
      const seen: string[] = [];
      await consumer.connect();
      try {
        await consumer.subscribe({ topic, fromBeginning: true });
        await consumer.run({ eachMessage: async ({ message }) => void seen.push(message.value!.toString()) });
        await waitFor(() => seen.length >= 2, { timeoutMs: 30_000, what: 'records after the restart' });
      } finally {
        await consumer.disconnect();
      }
      expect(seen).toEqual(['d', 'e']);
    } finally {
      await second.stop();
    }
  });

  it('refuses a port in use with a one-line error and leaves nothing behind', async () => {
    const port = await freePort();
    const blocker: Server = createServer();
    await new Promise<void>((res) => blocker.listen(port, '127.0.0.1', res));
    try {
      const err = await startLocalKafka({ port }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LocalKafkaError);
      expect((err as Error).message).toMatch(new RegExp(`^port ${port} is already in use: .+`));
      expect((err as Error).message).not.toContain('\n');
    } finally {
      await new Promise((res) => blocker.close(res));
    }
  });

  it('stops the broker and removes its temp directory when it is not ready in time', async () => {
    const logs: string[] = [];
    const err = (await startLocalKafka({ readyTimeoutMs: 1, heapMb: 256, log: (l) => logs.push(l) }).catch(
      (e: unknown) => e,
    )) as LocalKafkaError;
    expect(err).toBeInstanceOf(LocalKafkaError);
    expect(err.message.split('\n')[0]).toMatch(/was not ready within 1 ms/);
    const dataDir = /formatted KRaft storage in (\S+)/.exec(logs.join('\n'))?.[1];
    expect(dataDir).toBeDefined();
    expect(existsSync(dataDir!)).toBe(false);
    expect(err.pid === undefined || !alive(err.pid)).toBe(true);
  });
});
