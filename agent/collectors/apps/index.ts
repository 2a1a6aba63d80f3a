// The application collector types (one file each): the registry lists them next to the OS ones.
import type { CollectorType } from '../collector.js';
import { mongodbCollectorType } from './mongodb.js';
import { mysqlCollectorType } from './mysql.js';
import { nginxCollectorType } from './nginx.js';
import { rabbitmqCollectorType } from './rabbitmq.js';
import { redisCollectorType } from './redis.js';

export const APP_COLLECTOR_TYPES: CollectorType[] = [
  redisCollectorType,
  mongodbCollectorType,
  nginxCollectorType,
  rabbitmqCollectorType,
  mysqlCollectorType,
];
