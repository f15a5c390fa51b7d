/** The broker for a test run: KAFKA_BROKERS when set, else one local broker from Maven Central jars. */
import { resolveKafka } from '../../scripts/local-kafka';

export async function startKafkaForTests(): Promise<{ brokers: string; stop(): Promise<void> }> {
  const started = Date.now();
  const kafka = await resolveKafka({ heapMb: 768, log: (l) => process.stderr.write(`[kafka] ${l}\n`) });
  if (kafka.local) process.stderr.write(`[kafka] test broker up in ${Date.now() - started} ms\n`);
  return kafka;
}
