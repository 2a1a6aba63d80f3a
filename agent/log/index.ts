export {
  Logger,
  LOG_LEVELS,
  type LogLevel,
  type LogFormat,
  type LogFields,
  type LogSink,
  type LoggerOptions,
} from './logger.js';
export { LogQueue, type LogQueueTimers, type LogTarget } from './log-queue.js';
export { RotatingFile } from './rotating-file.js';
export { RateLimitedLog, type WarningSink } from './rate-limited-log.js';
