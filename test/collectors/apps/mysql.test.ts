// The mysql collector against a real MariaDB started by the test: a temp datadir initialised with
// mariadb-install-db, mariadbd on a free 127.0.0.1 port plus a unix socket in the temp dir, a
// password-protected monitoring user created through the socket; stopped by PID in afterAll.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { CollectedData } from '../../../agent/collectors/collector.js';
import { mysqlCollectorType } from '../../../agent/collectors/apps/mysql.js';
import {
  type ServerProcess,
  cleanupAll,
  collectError,
  collectorsOf,
  expectConnectionRefused,
  expectSilentServerTimeout,
  findBinary,
  freePort,
  retryOnPortTaken,
  runContext,
  runOrThrow,
  startServer,
  stopServer,
  tempDir,
  waitUntil,
} from './servers.js';

import { describeWhenAvailable, notInstalled } from '../../helpers/requirements.js';
const MARIADBD = findBinary('mariadbd', 'mysqld');
const INSTALL_DB = findBinary('mariadb-install-db', 'mysql_install_db');
const AVAILABLE = Boolean(MARIADBD && INSTALL_DB);

const USER = 'opsbro';
const PASSWORD = 'M0nitor-Pa55';

describeWhenAvailable(
  'mysql collector against mariadbd',
  AVAILABLE ? undefined : notInstalled('mariadbd and mariadb-install-db', 'mariadb-server'),
  () => {
    let server: ServerProcess | undefined;
    let port = 0;
    let socket = '';
    const { create, closeAll } = collectorsOf(mysqlCollectorType);
    /** A client of the test's own, as root through the socket. */
    const rootQuery = async (sql: string[]): Promise<void> => {
      const connection = await mysql.createConnection({ socketPath: socket, user: 'root' });
      try {
        for (const statement of sql) await connection.query(statement);
      } finally {
        await connection.end();
      }
    };

    const rootStatus = async (name: string): Promise<number> => {
      const connection = await mysql.createConnection({ socketPath: socket, user: 'root' });
      try {
        const [rows] = await connection.query<mysql.RowDataPacket[]>('SHOW GLOBAL STATUS LIKE ?', [name]);
        return Number(rows[0]?.Value);
      } finally {
        await connection.end();
      }
    };

    /** mariadbd on a free port (again on another if that one was taken meanwhile). */
    const startMariadb = async (): Promise<void> => {
      const dir = tempDir('opsbro-mariadb-');
      port = await freePort();
      socket = join(dir, 'mysqld.sock');
      const dataDir = join(dir, 'data');
      const asRoot = process.getuid?.() === 0 ? ['--user=root'] : [];
      runOrThrow(INSTALL_DB!, [
        '--no-defaults',
        `--datadir=${dataDir}`,
        '--auth-root-authentication-method=normal',
        '--skip-test-db',
        '--skip-name-resolve',
        ...asRoot,
      ]);
      server = startServer(
        'mariadbd',
        MARIADBD!,
        [
          '--no-defaults',
          `--datadir=${dataDir}`,
          `--socket=${socket}`,
          `--port=${port}`,
          '--bind-address=127.0.0.1',
          `--pid-file=${join(dir, 'mariadbd.pid')}`,
          `--log-error=${join(dir, 'error.log')}`,
          `--tmpdir=${dir}`,
          '--skip-name-resolve',
          '--skip-log-bin',
          '--innodb-buffer-pool-size=16M',
          '--innodb-log-file-size=8M',
          ...asRoot,
        ],
        { dir },
      );
      try {
        await waitUntil(
          'mariadbd',
          async () => {
            await rootQuery(['SELECT 1']);
            return true;
          },
          30_000,
          server,
        );
      } catch (error) {
        // Its bind error is in its error log: the retry needs to see it.
        const errorLogFile = join(dir, 'error.log');
        const errorLog = existsSync(errorLogFile)
          ? readFileSync(errorLogFile, 'utf8').split('\n').slice(-5).join('\n')
          : '';
        await stopServer(server, 10_000);
        server = undefined;
        throw new Error(`${(error as Error).message}\n${errorLog}`, { cause: error });
      }
    };

    beforeAll(async () => {
      await retryOnPortTaken('mariadbd', startMariadb);
      await rootQuery([`CREATE USER '${USER}'@'127.0.0.1' IDENTIFIED BY '${PASSWORD}'`]);
    }, 60_000);

    afterAll(async () => {
      await closeAll();
      await stopServer(server, 10_000);
      cleanupAll();
    });

    it('reports the version, status numbers and a queries rate that follows real queries', async () => {
      const pagesTotal = await rootStatus('Innodb_buffer_pool_pages_total');
      const collector = create({ port, user: USER, password: PASSWORD });
      const first = await collector.collect(runContext());
      expect(first.version).toMatch(/MariaDB/);
      expect(first.max_connections).toBe(151);
      expect(first.threads_connected).toBeGreaterThanOrEqual(1);
      expect(first.threads_running).toBeGreaterThanOrEqual(1);
      expect(first.uptime).toBeGreaterThanOrEqual(0);
      // The server's own answer, read independently (a gauge that does not move).
      expect(first.innodb_buffer_pool_pages_total).toBe(pagesTotal);
      expect(first.innodb_buffer_pool_pages_total).toBeGreaterThan(900); // 16 MiB of 16 KiB pages, minus reserved
      for (const key of [
        'queries',
        'questions',
        'slow_queries',
        'connections',
        'aborted_connects',
        'queries_s',
      ]) {
        expect(typeof first[key], key).toBe('number');
      }
      expect(JSON.stringify(first)).not.toContain(PASSWORD);

      const client = await mysql.createConnection({
        host: '127.0.0.1',
        port,
        user: USER,
        password: PASSWORD,
      });
      try {
        for (let i = 0; i < 30; i++) await client.query('SELECT 1');
      } finally {
        await client.end();
      }
      const second = await collector.collect(runContext());
      // 30 SELECTs + the collector's own two statements (+ connection setup queries of mysql2, if any).
      expect((second.queries as number) - (first.queries as number)).toBeGreaterThanOrEqual(32);
      expect(second.queries_s).toBeGreaterThan(0);
      expect(second.connections).toBe((first.connections as number) + 1); // the test's client only: reused
    });

    it('connects through the socket setting', async () => {
      const data: CollectedData = await create({ socket, user: 'root', port: 1 }).collect(runContext());
      expect(data.version).toMatch(/MariaDB/);
    });

    it('fails clearly with a wrong password, without showing it', async () => {
      const wrong = 'Wr0ng-Pa55';
      const error = await collectError(create({ port, user: USER, password: wrong }));
      expect(error?.message).toBe(
        `mysql 127.0.0.1:${port}: Access denied for user '${USER}'@'127.0.0.1' (using password: YES)`,
      );
      expect(error?.message).not.toContain(wrong);
    });
  },
);

describe('mysql collector error paths', () => {
  it('reports a refused port', async () => {
    const port = await freePort();
    const collector = mysqlCollectorType.create({ ...mysqlCollectorType.defaultSettings, port });
    await expectConnectionRefused(collector, `mysql 127.0.0.1:${port}`);
  });

  it('aborts a server that accepts and never greets at the timeout', async () => {
    await expectSilentServerTimeout(
      (port) => mysqlCollectorType.create({ ...mysqlCollectorType.defaultSettings, port }),
      (port) => new RegExp(`^mysql 127\\.0\\.0\\.1:${port}: `),
      { timeoutMs: 500 },
    );
  });
});
