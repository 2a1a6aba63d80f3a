// Every collector type of this build, in one place: a new plugin is one file plus one line here
// (or in os/index.ts, apps/index.ts).
import { APP_COLLECTOR_TYPES } from './apps/index.js';
import type { CollectorType } from './collector.js';
import { OS_COLLECTOR_TYPES } from './os/index.js';

export const COLLECTOR_TYPES: ReadonlyMap<string, CollectorType> = new Map(
  [...OS_COLLECTOR_TYPES, ...APP_COLLECTOR_TYPES].map((type) => [type.type, type]),
);
