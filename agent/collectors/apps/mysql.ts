// The mysql collector (MySQL and MariaDB): a useful subset of SHOW GLOBAL STATUS, the version and
// max_connections, plus per-second rates of the query and traffic counters. One connection (mysql2)
// kept between runs; dropped after a failure and made again on the next run. The driver is loaded by
// the first run: an agent without the mysql pack never pays for it (~15 MiB).
import type { Connection, RowDataPacket } from 'mysql2/promise';

import type { CollectedData, CollectorInstance, CollectorType, CollectContext } from '../collector.js';
import {
  CounterRates,
  describeNetworkError,
  finiteNumber,
  monotonicMs,
  portSetting,
  raceAbort,
  redact,
  stringSetting,
} from './common.js';

/** SHOW GLOBAL STATUS variables kept (lower-cased); one missing on a server version reads 0. */
const STATUS_GAUGES_AND_COUNTERS = [
  'uptime',
  'threads_connected',
  'threads_running',
  'threads_created',
  'threads_cached',
  'max_used_connections',
  'connections',
  'aborted_connects',
  'aborted_clients',
  'queries',
  'questions',
  'slow_queries',
  'com_select',
  'com_insert',
  'com_update',
  'com_delete',
  'bytes_received',
  'bytes_sent',
  'created_tmp_tables',
  'created_tmp_disk_tables',
  'open_tables',
  'opened_tables',
  'table_locks_waited',
  'innodb_buffer_pool_pages_total',
  'innodb_buffer_pool_pages_free',
  'innodb_buffer_pool_pages_data',
  'innodb_buffer_pool_pages_dirty',
  'innodb_buffer_pool_read_requests',
  'innodb_buffer_pool_reads',
  'innodb_row_lock_waits',
  'innodb_row_lock_time',
] as const;

/** Counters that also get a `<name>_s` per-second rate. */
const RATE_COUNTERS = [
  'queries',
  'questions',
  'slow_queries',
  'connections',
  'aborted_connects',
  'com_select',
  'com_insert',
  'com_update',
  'com_delete',
  'bytes_received',
  'bytes_sent',
] as const;

const DEFAULTS = { host: '127.0.0.1', port: 3306, user: 'root', password: '', socket: '' } as const;

/** Where and as whom to connect. */
interface MysqlSettings {
  host: string;
  port: number;
  user: string;
  password: string;
  /** A unix socket path; when set, host and port are not used. */
  socket: string;
}

/** SHOW GLOBAL STATUS rows ({Variable_name, Value}) as lower-cased name -> number (non-numeric values skipped). */
function statusNumbers(rows: readonly Record<string, unknown>[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const row of rows) {
    const name = row.Variable_name;
    const value = finiteNumber(row.Value);
    if (typeof name === 'string' && value !== undefined) out.set(name.toLowerCase(), value);
  }
  return out;
}

class MysqlCollector implements CollectorInstance {
  private connection?: Connection;
  private readonly rates = new CounterRates();
  private readonly label: string;

  constructor(private readonly settings: MysqlSettings) {
    this.label = `mysql ${settings.socket || `${settings.host}:${settings.port}`}`;
  }

  async collect(context: CollectContext): Promise<CollectedData> {
    const { signal } = context;
    // An aborted step leaves the connection mid-protocol: it is dropped at once.
    const guarded = <T>(step: Promise<T>): Promise<T> => raceAbort(step, signal, () => this.drop());
    try {
      const connection = await guarded(this.connected(context.timeoutMs));
      const [statusRows] = await guarded(connection.query<RowDataPacket[]>('SHOW GLOBAL STATUS'));
      const [infoRows] = await guarded(
        connection.query<RowDataPacket[]>(
          'SELECT VERSION() AS version, @@GLOBAL.max_connections AS max_connections',
        ),
      );
      const status = statusNumbers(statusRows);
      const info: Record<string, unknown> = infoRows[0] ?? {};
      const data: CollectedData = {
        version: typeof info.version === 'string' ? info.version : '',
        max_connections: finiteNumber(info.max_connections) ?? 0,
      };
      for (const name of STATUS_GAUGES_AND_COUNTERS) data[name] = status.get(name) ?? 0;
      const counters = new Map(RATE_COUNTERS.map((name) => [name, status.get(name) ?? 0]));
      const rates = this.rates.next(counters, status.get('uptime'), monotonicMs());
      for (const [name, rate] of rates) data[`${name}_s`] = rate;
      return data;
    } catch (error) {
      this.drop();
      throw new Error(`${this.label}: ${redact(describeNetworkError(error), [this.settings.password])}`, {
        cause: error,
      });
    }
  }

  async close(): Promise<void> {
    const connection = this.connection;
    this.connection = undefined;
    await connection?.end().catch(() => connection.destroy());
  }

  private async connected(timeoutMs: number): Promise<Connection> {
    if (this.connection) return this.connection;
    const { host, port, user, password, socket } = this.settings;
    const { createConnection } = await import('mysql2/promise');
    const connection = await createConnection({
      ...(socket ? { socketPath: socket } : { host, port }),
      user,
      password,
      connectTimeout: Math.max(100, timeoutMs),
    });
    // A connection the server closes between runs (restart, wait_timeout) is dropped here, so the
    // next run connects again instead of failing once; the listener also keeps the error handled.
    connection.on('error', () => {
      if (this.connection === connection) this.connection = undefined;
      connection.destroy();
    });
    this.connection = connection;
    return connection;
  }

  /** Forgets the connection and destroys its socket (an aborted query leaves it mid-protocol). */
  private drop(): void {
    const connection = this.connection;
    this.connection = undefined;
    connection?.destroy();
  }
}

export const mysqlCollectorType: CollectorType = {
  type: 'mysql',
  description:
    'MySQL/MariaDB SHOW GLOBAL STATUS subset: threads, connections, queries and rates, InnoDB buffer pool',
  defaultSettings: DEFAULTS,
  create: (settings) =>
    new MysqlCollector({
      host: stringSetting(settings, 'host', DEFAULTS.host),
      port: portSetting(settings, 'port', DEFAULTS.port),
      user: stringSetting(settings, 'user', DEFAULTS.user),
      password: stringSetting(settings, 'password', DEFAULTS.password),
      socket: stringSetting(settings, 'socket', DEFAULTS.socket),
    }),
};
