import { pino, destination, stdTimeFunctions, type Logger as PinoLogger, type DestinationStream } from 'pino';

export type Logger = PinoLogger;
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/**
 * JSON lines on the given stream (stderr by default, so `render` can keep stdout for the config).
 * Synchronous writes: a daemon that is killed must not lose the line that says why.
 */
export function createLogger(options: { level?: LogLevel; stream?: DestinationStream } = {}): Logger {
  const stream = options.stream ?? destination({ fd: 2, sync: true });
  return pino(
    {
      level: options.level ?? 'info',
      base: { name: 'galera-haproxy' },
      timestamp: stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    stream,
  );
}

/** A logger that drops everything, for unit tests and library callers that bring none. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
