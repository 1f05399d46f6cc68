import { pino, type Logger } from 'pino';

/** Structured logger for the service and for debugging the CLI (`FIXWRIGHT_LOG_LEVEL=debug`). */
export function createLogger(level: string, destination: NodeJS.WritableStream = process.stderr): Logger {
  return pino({ level, base: { app: 'fixwright' } }, destination as pino.DestinationStream);
}

export type { Logger };
