/**
 * Batches produces: everything sent within a few milliseconds goes out in one `sendBatch` (acks=-1), and each
 * `send` resolves once the broker has acknowledged its record (or rejects with the batch's error). Used for the
 * DLT records and the delivery ledger's records of the outbox-processor, whose offsets wait for the acks.
 */
import type { Producer } from 'kafkajs';

export interface OutgoingRecord {
  topic: string;
  key: Buffer | string | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

export class BatchingProducer {
  private queue: { msg: OutgoingRecord; resolve: () => void; reject: (e: unknown) => void }[] = [];
  private timer: NodeJS.Timeout | undefined;
  constructor(
    private readonly producer: Producer,
    private readonly lingerMs = 5,
    private readonly maxBatch = 500,
  ) {}

  send(msg: OutgoingRecord): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ msg, resolve, reject });
      if (this.queue.length >= this.maxBatch) void this.flush();
      else this.timer ??= setTimeout(() => void this.flush(), this.lingerMs);
    });
  }

  sendAll(msgs: OutgoingRecord[]): Promise<void> {
    return Promise.all(msgs.map((m) => this.send(m))).then(() => undefined);
  }

  private async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    const byTopic = new Map<string, OutgoingRecord[]>();
    for (const { msg } of batch) {
      const list = byTopic.get(msg.topic);
      if (list) list.push(msg);
      else byTopic.set(msg.topic, [msg]);
    }
    try {
      await this.producer.sendBatch({
        acks: -1,
        topicMessages: [...byTopic].map(([topic, msgs]) => ({
          topic,
          messages: msgs.map((m) => ({ key: m.key, value: m.value, headers: m.headers })),
        })),
      });
      for (const b of batch) b.resolve();
    } catch (err) {
      for (const b of batch) b.reject(err);
    }
  }
}
