/**
 * Structured logging: one logger per component, JSON lines to stderr or to a file. Library code
 * never writes to stdout; only commands do.
 */
import { appendFileSync } from 'node:fs';
import { LOG_FILE_MODE } from './file-modes.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const LEVEL_RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  readonly component: string;
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  child(component: string): Logger;
}

export interface LogSink {
  write(line: string): void;
}

export const stderrSink: LogSink = { write: (line) => process.stderr.write(line) };

export function fileSink(path: string): LogSink {
  return { write: (line) => appendFileSync(path, line, { mode: LOG_FILE_MODE }) };
}

export interface LoggerOptions {
  level?: LogLevel;
  sink?: LogSink;
  /** Clock for the timestamp; injectable so tests are deterministic. */
  now?: () => Date;
}

function parseLevel(value: string | undefined): LogLevel | undefined {
  return value !== undefined && value in LEVEL_RANK ? (value as LogLevel) : undefined;
}

function defaultSink(): LogSink {
  const file = process.env.MICROK8S_LOG_FILE;
  return file ? fileSink(file) : stderrSink;
}

function errorFields(value: unknown): unknown {
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return { name: value.name, message: value.message, ...(code === undefined ? {} : { code }) };
  }
  return value;
}

export function createLogger(component: string, options: LoggerOptions = {}): Logger {
  const level = options.level ?? parseLevel(process.env.MICROK8S_LOG_LEVEL) ?? 'info';
  const sink = options.sink ?? defaultSink();
  const now = options.now ?? (() => new Date());
  const emit = (at: LogLevel, message: string, fields?: Record<string, unknown>) => {
    if (LEVEL_RANK[at] < LEVEL_RANK[level]) return;
    const record: Record<string, unknown> = { time: now().toISOString(), level: at, component, message };
    if (fields) for (const [key, value] of Object.entries(fields)) record[key] = errorFields(value);
    sink.write(`${JSON.stringify(record)}\n`);
  };
  return {
    component,
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (sub) => createLogger(`${component}.${sub}`, { level, sink, now }),
  };
}
