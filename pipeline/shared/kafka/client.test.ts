import { logLevel } from 'kafkajs';
import {
  createKafka,
  IDEMPOTENT_RETRIES_WARNING,
  type KafkaLogLevel,
  kafkaLogLevel,
  TRANSIENT_KAFKA_ERRORS,
} from './client';

// kafkajs's protocol error table (not part of its typed API; kafkajs 2.2.4 is the last release).
const { errorCodes } = require('kafkajs/src/protocol/error') as {
  errorCodes: { type: string; message: string; retriable: boolean }[];
};

const LOADING = TRANSIENT_KAFKA_ERRORS.GROUP_LOAD_IN_PROGRESS!;
const NO_LEADER = TRANSIENT_KAFKA_ERRORS.LEADER_NOT_AVAILABLE!;

describe('kafkaLogLevel', () => {
  it("keeps kafkajs's level for ordinary entries", () => {
    expect(kafkaLogLevel(logLevel.ERROR, 'Crash: KafkaJSNonRetriableError: boom')).toBe('error');
    expect(kafkaLogLevel(logLevel.WARN, 'The group is rebalancing, re-joining')).toBe('warn');
    expect(kafkaLogLevel(logLevel.INFO, 'Consumer has joined the group')).toBe('info');
    expect(kafkaLogLevel(logLevel.DEBUG, 'Request Fetch(key: 1, version: 11)')).toBe('debug');
    // a broker answer that is no transient error stays an error
    expect(
      kafkaLogLevel(logLevel.ERROR, 'Response Produce(key: 0, version: 7)', {
        error: 'Not authorized to access topics: [Topic authorization failed]',
      }),
    ).toBe('error');
  });

  it('demotes per-attempt logs of transient broker answers kafkajs retries itself to debug', () => {
    // the Connection's log of the answer (this is the line a clean start printed)
    expect(kafkaLogLevel(logLevel.ERROR, 'Response InitProducerId(key: 22, version: 1)', { error: LOADING })).toBe(
      'debug',
    );
    expect(
      kafkaLogLevel(logLevel.ERROR, 'Response JoinGroup(key: 11, version: 5)', {
        error: TRANSIENT_KAFKA_ERRORS.GROUP_COORDINATOR_NOT_AVAILABLE,
      }),
    ).toBe('debug');
    // the producer's per-attempt log and the broker pool's
    expect(kafkaLogLevel(logLevel.ERROR, `Failed to send messages: ${NO_LEADER}`)).toBe('debug');
    expect(kafkaLogLevel(logLevel.ERROR, NO_LEADER, { retryCount: 0 })).toBe('debug');
    // the admin's retry warnings
    expect(kafkaLogLevel(logLevel.WARN, 'Could not create topics', { error: NO_LEADER })).toBe('debug');
  });

  it('keeps the crash when the retries ran out, even of a transient error', () => {
    expect(kafkaLogLevel(logLevel.ERROR, `Crash: KafkaJSNumberOfRetriesExceeded: ${LOADING}`, {})).toBe('error');
    expect(kafkaLogLevel(logLevel.ERROR, `Failed to send messages: something else`)).toBe('error');
  });

  it("demotes the idempotent producer's bounded-retries warning", () => {
    expect(kafkaLogLevel(logLevel.WARN, IDEMPOTENT_RETRIES_WARNING)).toBe('debug');
  });

  it("lists only kafkajs's retriable errors, with kafkajs's exact messages", () => {
    for (const [type, message] of Object.entries(TRANSIENT_KAFKA_ERRORS)) {
      const known = errorCodes.find((e) => e.type === type);
      expect(known).toMatchObject({ type, message, retriable: true });
    }
  });
});

describe('createKafka log bridge', () => {
  function capture(): { kafka: ReturnType<typeof createKafka>; lines: [KafkaLogLevel, string][] } {
    const lines: [KafkaLogLevel, string][] = [];
    const kafka = createKafka({
      brokers: ['127.0.0.1:1'],
      clientId: 'log-test',
      log: (level, message) => void lines.push([level, message]),
    });
    return { kafka, lines };
  }

  it('creating an idempotent producer prints no WARN (the warning arrives at debug)', () => {
    const { kafka, lines } = capture();
    kafka.producer({ idempotent: true, createPartitioner: () => () => 0 });
    expect(lines).toEqual([['debug', IDEMPOTENT_RETRIES_WARNING]]);
  });

  it('routes kafkajs entries through the mapping', () => {
    const { kafka, lines } = capture();
    const connection = kafka.logger().namespace('Connection');
    connection.error('Response JoinGroup(key: 11, version: 5)', { error: LOADING });
    connection.error('Response Produce(key: 0, version: 7)', { error: 'Topic authorization failed' });
    expect(lines).toEqual([
      ['debug', 'Response JoinGroup(key: 11, version: 5)'],
      ['error', 'Response Produce(key: 0, version: 7)'],
    ]);
  });
});
