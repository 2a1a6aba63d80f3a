export { Logger, LOG_LEVELS, type LogLevel, type LogFormat, type LogFields, type LogSink } from './logger.js';
export { RotatingFile } from './rotating-file.js';
