// The script check with Debian's real Monitoring Plugins (monitoring-plugins-basic, installed by
// .ci/run): check_dummy, check_load, check_disk, check_procs, and check_tcp / check_http against
// servers the test starts on 127.0.0.1. In CI a missing plugin fails; elsewhere the suite skips.
import { accessSync, constants, existsSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { cleanupAll, tempDir } from '../helpers/agent-process.js';
import { describeWhenAvailable, notInstalled } from '../helpers/requirements.js';
import { PLUGINS_DIR, runCheck } from './script-fixtures.js';

const PLUGINS = ['check_dummy', 'check_load', 'check_disk', 'check_procs', 'check_tcp', 'check_http'];

function missingPlugins(): string | undefined {
  const missing = PLUGINS.filter((plugin) => {
    try {
      accessSync(join(PLUGINS_DIR, plugin), constants.X_OK);
      return false;
    } catch {
      return true;
    }
  });
  return missing.length ? notInstalled(missing.join(', '), 'monitoring-plugins-basic') : undefined;
}

function listen<T extends Server | HttpServer>(server: T): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

function close(server: Server | HttpServer | undefined): Promise<void> {
  return new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()));
}

describeWhenAvailable('script checks with the Monitoring Plugins', missingPlugins(), () => {
  const dir = tempDir('opsbro-plugins-');
  afterAll(cleanupAll);

  it.each([
    [0, 'ok', 'OK'],
    [1, 'warning', 'WARNING'],
    [2, 'critical', 'CRITICAL'],
    [3, 'unknown', 'UNKNOWN'],
  ])('check_dummy %i is %s', async (code, state, word) => {
    const result = await runCheck({
      script: '$nagiosplugins$/check_dummy $dummy.state$ "$dummy.text$ on $name$"',
      dummy: { state: code, text: 'all is well' },
    });
    expect(result).toEqual({ state, output: `${word}: all is well on node-1`, perfdata: [] });
  });

  it('check_dummy gets a hostile value as its text, and runs nothing of it', async () => {
    const pwned = join(dir, 'pwned');
    const text = `x; touch ${pwned} $(touch ${pwned}) \`touch ${pwned}\``;
    const result = await runCheck({ script: '$nagiosplugins$/check_dummy 0 $text$', text });
    expect(result).toEqual({ state: 'ok', output: `OK: ${text}`, perfdata: [] });
    expect(existsSync(pwned)).toBe(false);
  });

  it('check_dummy with a state it does not know is UNKNOWN (its own exit code 3)', async () => {
    const result = await runCheck({ script: '$nagiosplugins$/check_dummy 7' });
    expect(result.state).toBe('unknown');
    expect(result.output).toContain('7 is not a supported error state');
  });

  it('check_load: OK under thresholds no machine reaches, with the three loads as perfdata', async () => {
    const result = await runCheck({
      script: '$nagiosplugins$/check_load -w $load.warning$ -c $load.critical$',
      load: { warning: '1000,1000,1000', critical: '2000,2000,2000' },
    });
    expect(result.state).toBe('ok');
    expect(result.output).toMatch(/^LOAD OK - total load average: /);
    expect(result.perfdata.map((datum) => [datum.label, datum.warn, datum.crit, datum.min])).toEqual([
      ['load1', '1000.000', '2000.000', 0],
      ['load5', '1000.000', '2000.000', 0],
      ['load15', '1000.000', '2000.000', 0],
    ]);
    for (const datum of result.perfdata) expect(datum.value).toBeGreaterThanOrEqual(0);
  });

  it('check_disk on /: OK with room to spare, CRITICAL when 100% must be free', async () => {
    const ok = await runCheck({ script: '$nagiosplugins$/check_disk -w 1 -c 1 -p /' });
    expect(ok.state).toBe('ok');
    expect(ok.output).toMatch(/^DISK OK - free space: \/ /);
    const [used] = ok.perfdata;
    expect(used).toMatchObject({ label: '/', uom: 'B', min: 0 });
    expect(used!.value).toBeGreaterThan(0);
    expect(used!.max).toBeGreaterThan(used!.value);

    const critical = await runCheck({
      script: '$nagiosplugins$/check_disk -w $disk.warning$ -c $disk.critical$ -p /',
      disk: { warning: '100%', critical: '100%' },
    });
    expect(critical.state).toBe('critical');
    expect(critical.output).toMatch(/^DISK CRITICAL - free space: \/ /);
  });

  it('check_procs: counts processes, CRITICAL outside its range', async () => {
    const ok = await runCheck({ script: '$nagiosplugins$/check_procs -w 1000000 -c 2000000' });
    expect(ok.state).toBe('ok');
    expect(ok.output).toMatch(/^PROCS OK: \d+ processes/);
    expect(ok.perfdata).toEqual([
      {
        label: 'procs',
        value: expect.any(Number) as number,
        uom: '',
        warn: '1000000',
        crit: '2000000',
        min: 0,
      },
    ]);
    const critical = await runCheck({ script: '$nagiosplugins$/check_procs -c 0:0' });
    expect(critical.state).toBe('critical');
    expect(critical.perfdata[0]).toMatchObject({ label: 'procs', crit: '0:0' });
  });

  describe('against servers on 127.0.0.1', () => {
    let tcpServer: Server | undefined;
    let httpServer: HttpServer | undefined;
    let tcpPort = 0;
    let httpPort = 0;
    const page = 'opsbro test page\n'.repeat(10);

    beforeAll(async () => {
      tcpServer = createTcpServer((socket) => socket.end());
      tcpPort = await listen(tcpServer);
      httpServer = createHttpServer((request, response) => {
        const status = request.url === '/broken' ? 500 : request.url === '/missing' ? 404 : 200;
        response.writeHead(status, { 'content-type': 'text/plain' });
        response.end(page);
      });
      httpPort = await listen(httpServer);
    });
    afterAll(async () => {
      await close(tcpServer);
      await close(httpServer);
    });

    it('check_tcp: OK on a listening port, with its time', async () => {
      const result = await runCheck({
        script: '$nagiosplugins$/check_tcp -H $address$ -p $port$',
        port: tcpPort,
      });
      expect(result.state).toBe('ok');
      expect(result.output).toMatch(
        new RegExp(`^TCP OK - [\\d.]+ second response time on 127.0.0.1 port ${tcpPort}$`),
      );
      expect(result.perfdata).toEqual([
        { label: 'time', value: expect.any(Number) as number, uom: 's', min: 0, max: 10 },
      ]);
    });

    it('check_tcp: CRITICAL on a closed port', async () => {
      const closed = createTcpServer();
      const port = await listen(closed);
      await close(closed);
      const result = await runCheck({ script: '$nagiosplugins$/check_tcp -H 127.0.0.1 -p $port$', port });
      expect(result.state).toBe('critical');
      expect(result.output).toContain('Connection refused');
    });

    it('check_http: OK with the time and the size of the answer as perfdata', async () => {
      const result = await runCheck({
        script: '$nagiosplugins$/check_http -H 127.0.0.1 -p $http.port$ -u / -s "$http.expect$"',
        http: { port: httpPort, expect: 'opsbro test page' },
      });
      expect(result.state).toBe('ok');
      expect(result.output).toMatch(
        /^HTTP OK: HTTP\/1\.1 200 OK - \d+ bytes in [\d.]+ second response time$/,
      );
      const [time, size] = result.perfdata;
      expect(time).toMatchObject({ label: 'time', uom: 's', min: 0 });
      expect(time!.value).toBeGreaterThanOrEqual(0);
      expect(time!.value).toBeLessThan(10);
      // The size is the whole answer: status line, headers and the page.
      expect(size).toMatchObject({ label: 'size', uom: 'B', min: 0 });
      expect(size!.value).toBeGreaterThan(Buffer.byteLength(page));
      expect(result.output).toContain(`${size!.value} bytes`);
    });

    it('check_http: WARNING on a 404, CRITICAL on a 500', async () => {
      const missing = await runCheck({
        script: `$nagiosplugins$/check_http -H 127.0.0.1 -p ${httpPort} -u /missing`,
      });
      expect(missing.state).toBe('warning');
      expect(missing.output).toMatch(/^HTTP WARNING: HTTP\/1\.1 404 Not Found/);
      const broken = await runCheck({
        script: `$nagiosplugins$/check_http -H 127.0.0.1 -p ${httpPort} -u /broken`,
      });
      expect(broken.state).toBe('critical');
      expect(broken.output).toMatch(/^HTTP CRITICAL: HTTP\/1\.1 500 Internal Server Error/);
    });
  });
});
