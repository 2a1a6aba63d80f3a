// The nginx collector against a real nginx started by the test (its own prefix dir, config, logs and
// pid file, listening on a free 127.0.0.1 port, foreground), stopped by PID in afterAll.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { nginxCollectorType, parseStubStatus } from '../../../agent/collectors/apps/nginx.js';
import {
  type ServerProcess,
  cleanupAll,
  collectError,
  expectConnectionRefused,
  findBinary,
  freePort,
  retryOnPortTaken,
  runContext,
  startServer,
  stopServer,
  tempDir,
  waitUntil,
} from './servers.js';

import { describeWhenAvailable, notInstalled } from '../../helpers/requirements.js';
const NGINX = findBinary('nginx');

function nginxConfig(dir: string, port: number): string {
  return `
worker_processes 1;
error_log ${dir}/error.log info;
pid ${dir}/nginx.pid;
events { worker_connections 64; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${port};
    location = /nginx_status { stub_status; }
    location = /hello { return 200 "hello\\n"; }
    location = /protected_status { stub_status; auth_basic "status"; auth_basic_user_file ${dir}/htpasswd; }
  }
}
`;
}

describe('parseStubStatus', () => {
  it('parses the page and rejects anything else', () => {
    const page =
      'Active connections: 2 \nserver accepts handled requests\n 10 9 20 \nReading: 0 Writing: 1 Waiting: 1 \n';
    expect(parseStubStatus(page)).toEqual({
      active: 2,
      accepts: 10,
      handled: 9,
      requests: 20,
      reading: 0,
      writing: 1,
      waiting: 1,
    });
    expect(parseStubStatus('<html>welcome to nginx</html>')).toBeUndefined();
  });
});

describeWhenAvailable(
  'nginx collector against nginx',
  NGINX ? undefined : notInstalled('nginx', 'nginx-light'),
  () => {
    let server: ServerProcess | undefined;
    let port = 0;

    /** nginx on a free port (again on another if that one was taken meanwhile). */
    const startNginx = async (): Promise<void> => {
      const dir = tempDir('opsbro-nginx-');
      port = await freePort();
      writeFileSync(join(dir, 'nginx.conf'), nginxConfig(dir, port));
      // user "ops", password "pw" ({PLAIN}: nginx's clear-text scheme, enough for a test).
      writeFileSync(join(dir, 'htpasswd'), 'ops:{PLAIN}pw\n');
      // As root nginx would switch its workers to nobody/www-data: keep them root, nothing to read anyway.
      const userDirective = process.getuid?.() === 0 ? 'user root;' : '';
      server = startServer(
        'nginx',
        NGINX ?? 'nginx',
        [
          '-p',
          dir,
          '-e',
          join(dir, 'error.log'),
          '-c',
          join(dir, 'nginx.conf'),
          '-g',
          `daemon off; master_process on; ${userDirective}`,
        ],
        { dir },
      );
      try {
        await waitUntil(
          'nginx',
          async () => ((await fetch(`http://127.0.0.1:${port}/hello`)).ok ? true : undefined),
          15_000,
          server,
        );
      } catch (error) {
        // Its bind error is in error.log: the retry needs to see it.
        const errorLogFile = join(dir, 'error.log');
        const errorLog = existsSync(errorLogFile)
          ? readFileSync(errorLogFile, 'utf8').split('\n').slice(-5).join('\n')
          : '';
        await stopServer(server);
        server = undefined;
        throw new Error(`${(error as Error).message}\n${errorLog}`, { cause: error });
      }
    };

    beforeAll(() => retryOnPortTaken('nginx', startNginx), 30_000);

    afterAll(async () => {
      await stopServer(server);
      cleanupAll();
    });

    it('reports stub_status numbers and request rates that follow real requests', async () => {
      const collector = nginxCollectorType.create({
        ...nginxCollectorType.defaultSettings,
        url: `http://127.0.0.1:${port}/nginx_status`,
      });
      const first = await collector.collect(runContext());
      expect(first.active).toBeGreaterThanOrEqual(1);
      expect(first.accepts).toBeGreaterThanOrEqual(1);
      expect(first.handled).toBe(first.accepts);
      expect(first.dropped).toBe(0);
      expect(first.requests_s).toBe(0); // stub_status has no uptime: no rate on the first run
      expect(first.accepts_s).toBe(0);
      for (const key of ['reading', 'writing', 'waiting']) expect(typeof first[key]).toBe('number');

      for (let i = 0; i < 20; i++) await (await fetch(`http://127.0.0.1:${port}/hello`)).text();
      const second = await collector.collect(runContext());
      // 20 requests plus the second status request itself.
      expect((second.requests as number) - (first.requests as number)).toBe(21);
      expect(second.requests_s).toBeGreaterThan(0);
      expect(second.writing).toBeGreaterThanOrEqual(1); // this status request
      await collector.close?.();
    });

    it('sends the credentials of the URL as basic auth and keeps them out of messages', async () => {
      const collector = nginxCollectorType.create({
        url: `http://ops:pw@127.0.0.1:${port}/protected_status`,
      });
      const data = await collector.collect(runContext());
      expect(typeof data.requests).toBe('number');
      const wrong = nginxCollectorType.create({
        url: `http://ops:Wr0ngPw@127.0.0.1:${port}/protected_status`,
      });
      const error = await collectError(wrong);
      expect(error?.message).toBe(
        `nginx http://127.0.0.1:${port}/protected_status: HTTP 401 Unauthorized: the location needs credentials (http://user:password@host/... in the url setting)`,
      );
      expect(error?.message).not.toContain('Wr0ngPw');
    });

    it('explains a page that is not stub_status and a missing location', async () => {
      const hello = nginxCollectorType.create({ url: `http://127.0.0.1:${port}/hello` });
      await expect(hello.collect(runContext())).rejects.toThrow(
        `nginx http://127.0.0.1:${port}/hello: the page is not a stub_status page (starts with "hello\\n")`,
      );
      const missing = nginxCollectorType.create({ url: `http://127.0.0.1:${port}/nope` });
      await expect(missing.collect(runContext())).rejects.toThrow(
        `nginx http://127.0.0.1:${port}/nope: HTTP 404 Not Found (is stub_status enabled at this location?)`,
      );
    });
  },
);

describe('nginx collector error paths', () => {
  it('reports a refused port', async () => {
    const port = await freePort();
    const collector = nginxCollectorType.create({ url: `http://127.0.0.1:${port}/nginx_status` });
    await expectConnectionRefused(collector, `nginx http://127.0.0.1:${port}/nginx_status`);
  });

  it('rejects a setting that is not a URL', () => {
    expect(() => nginxCollectorType.create({ url: 'not a url' })).toThrow(
      'setting url: "not a url" is not a URL',
    );
  });
});
