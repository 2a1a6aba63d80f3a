// A carbon-cache of its own for bench:metrics and the graphite.forward test: a config dir whose
// carbon.conf puts everything (whisper files, logs, pid) under `root` and listens on 127.0.0.1 only,
// with no tag database and no limits on creates or updates, and one retention for every series.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const CARBON_CACHE = '/usr/bin/carbon-cache';

export interface CarbonPorts {
  line: number;
  pickle: number;
  query: number;
}

/** Writes the config under `root`; returns carbon-cache's arguments and its whisper dir. */
export function carbonConfig(
  root: string,
  ports: CarbonPorts,
  retention: string,
): { args: string[]; whisperDir: string } {
  const conf = join(root, 'conf');
  const whisperDir = join(root, 'storage', 'whisper');
  for (const dir of [conf, whisperDir, join(root, 'log'), join(root, 'pid')])
    mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(conf, 'carbon.conf'),
    [
      '[cache]',
      `STORAGE_DIR = ${join(root, 'storage')}`,
      `LOCAL_DATA_DIR = ${whisperDir}`,
      `CONF_DIR = ${conf}`,
      `LOG_DIR = ${join(root, 'log')}`,
      `PID_DIR = ${join(root, 'pid')}`,
      'ENABLE_LOGROTATION = False',
      'ENABLE_TAGS = False',
      'USER =',
      'MAX_CACHE_SIZE = inf',
      'MAX_CREATES_PER_MINUTE = inf',
      'MAX_UPDATES_PER_SECOND = inf',
      'LOG_UPDATES = False',
      'LOG_CREATES = False',
      'LINE_RECEIVER_INTERFACE = 127.0.0.1',
      `LINE_RECEIVER_PORT = ${ports.line}`,
      'ENABLE_UDP_LISTENER = False',
      'PICKLE_RECEIVER_INTERFACE = 127.0.0.1',
      `PICKLE_RECEIVER_PORT = ${ports.pickle}`,
      'CACHE_QUERY_INTERFACE = 127.0.0.1',
      `CACHE_QUERY_PORT = ${ports.query}`,
      '',
    ].join('\n'),
  );
  writeFileSync(join(conf, 'storage-schemas.conf'), `[default]\npattern = .*\nretentions = ${retention}\n`);
  return { args: [`--config=${join(conf, 'carbon.conf')}`, '--debug', 'start'], whisperDir };
}

/** The line carbon-cache logs once its line receiver listens on `port`. */
export const carbonListening = (port: number): string => `CarbonReceiverFactory starting on ${port}`;
