/**
 * pino with redaction: secrets, signatures and auth headers never reach a log line.
 */
import pino, { type Logger } from 'pino';

export type { Logger };

export const REDACT_PATHS = [
  'authorization',
  'password',
  'secret',
  'token',
  'apiKey',
  'signingSecret',
  'clientSecret',
  'client_secret',
  'access_token',
  '*.authorization',
  '*.Authorization',
  '*.password',
  '*.secret',
  '*.token',
  '*.apiKey',
  '*.signingSecret',
  '*.clientSecret',
  '*.client_secret',
  '*.access_token',
  '*["webhook-signature"]',
  '*["x-api-key"]',
  'headers.authorization',
  'headers["x-api-key"]',
  'headers["webhook-signature"]',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'auth.secret',
  '*.auth.secret',
  'signing.current',
  'signing.previous',
  '*.signing.current',
  '*.signing.previous',
];

export interface LoggerOptions {
  service: string;
  level?: string;
  /** Destination stream (tests capture logs to check for secrets). */
  destination?: pino.DestinationStream;
}

export function createLogger(opts: LoggerOptions): Logger {
  return pino(
    {
      name: opts.service,
      level: opts.level ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { service: opts.service },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    opts.destination,
  );
}
