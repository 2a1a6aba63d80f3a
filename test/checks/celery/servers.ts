// What the celery check's tests run against: a real RabbitMQ (Debian's rabbitmq-server, with its own
// epmd, every RABBITMQ_* path in a temp dir, AMQP and distribution on free 127.0.0.1 ports, no
// plugins) and real Celery workers (Debian's python3-celery, run by /usr/bin/python3: the python3 on
// PATH may be another one without Celery) of a tiny app written to the same temp dir. Everything is
// stopped by PID (process groups, plus any helper that left its group), and a survivor fails the
// suite; an epmd this file did not start is never touched.
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { isAlive } from '../../helpers/agent-process.js';
import {
  type ServerProcess,
  descendants,
  findBinary,
  freePort,
  retryOnPortTaken,
  rabbitmqEnv,
  startServer,
  stopServer,
  waitUntil,
} from '../../collectors/apps/servers.js';
import { notInstalled } from '../../helpers/requirements.js';

const RABBITMQ_SERVER = findBinary('/usr/lib/rabbitmq/bin/rabbitmq-server');
const EPMD = findBinary('epmd');
const RABBITMQCTL = '/usr/lib/rabbitmq/bin/rabbitmqctl';
/** Debian's Python, where python3-celery installs: not the python3 first on PATH. */
const PYTHON = '/usr/bin/python3';
const APP_MODULE = 'opsbro_celery_app';

/** Why the suite cannot run here, or undefined when it can (see describeWhenAvailable). */
export function celeryTestsMissing(): string | undefined {
  if (!RABBITMQ_SERVER || !EPMD) return notInstalled('rabbitmq-server and epmd', 'rabbitmq-server');
  const probe = spawnSync(PYTHON, ['-c', 'import celery, kombu'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) return notInstalled(`celery for ${PYTHON}`, 'python3-celery');
  return undefined;
}

export interface Broker {
  port: number;
  /** The broker's URL with these credentials (guest:guest logs in from loopback). */
  url(user?: string, password?: string): string;
  /** Runs `rabbitmqctl -n <node> ...args` against it (Debian's /usr/sbin one would switch users). */
  ctl(...args: string[]): Promise<string>;
}

/** The processes this file started and everything they spawned, checked gone at the end. */
export class TestProcesses {
  private readonly servers: ServerProcess[] = [];

  constructor(readonly dir: string) {
    for (const sub of ['home', 'mnesia', 'log']) mkdirSync(join(dir, sub));
    writeFileSync(
      join(dir, `${APP_MODULE}.py`),
      `from celery import Celery\n\napp = Celery('${APP_MODULE}')\n`,
    );
  }

  /** Starts epmd and RabbitMQ; resolves once the broker accepts an AMQP login. */
  startBroker(): Promise<Broker> {
    return retryOnPortTaken('rabbitmq-server', async () => {
      const [epmdPort, amqpPort, distPort] = [await freePort(), await freePort(), await freePort()];
      const dir = this.dir;
      writeFileSync(
        join(dir, 'rabbitmq.conf'),
        [`listeners.tcp.default = 127.0.0.1:${amqpPort}`, 'log.console = true', 'log.file = false', ''].join(
          '\n',
        ),
      );
      // Our own epmd, loopback only, foreground: its PID is ours to stop, and no other test's epmd is used.
      const epmd = this.track(
        startServer('epmd', EPMD!, ['-address', '127.0.0.1', '-port', String(epmdPort)], { dir }),
      );
      await waitUntil('epmd', () => tcpOpen(epmdPort), 10_000, epmd);
      const env = rabbitmqEnv(
        dir,
        { epmd: epmdPort, amqp: amqpPort, dist: distPort },
        `opsbro-celery-${amqpPort}`,
      );
      const rabbit = this.track(startServer('rabbitmq', RABBITMQ_SERVER!, [], { dir, env }));
      const url = (user = 'guest', password = 'guest'): string =>
        `amqp://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${amqpPort}//`;
      try {
        await waitUntil(
          'rabbitmq AMQP login',
          async () => {
            const amqp = await import('amqplib');
            const connection = await amqp.connect(url(), { timeout: 2000 });
            await connection.close();
            return true;
          },
          90_000,
          rabbit,
        );
      } catch (error) {
        await this.stopAll();
        throw error;
      }
      const node = env.RABBITMQ_NODENAME!;
      const ctl = async (...args: string[]): Promise<string> => {
        const { stdout } = await promisify(execFile)(RABBITMQCTL, ['-n', node, ...args], {
          env,
          timeout: 30_000,
        });
        return stdout;
      };
      return { port: amqpPort, url, ctl };
    });
  }

  /** Starts a worker named `name` (w1@opsbro-test) on `brokerUrl`; resolves once it says it is ready. */
  async startWorker(name: string, brokerUrl: string): Promise<ServerProcess> {
    const worker = this.track(
      startServer(
        `worker-${name}`,
        PYTHON,
        [
          '-m',
          'celery',
          '-A',
          APP_MODULE,
          '-b',
          brokerUrl,
          'worker',
          '-n',
          name,
          '--pool=solo',
          '--without-gossip',
          '--without-mingle',
          '--without-heartbeat',
          '--loglevel=INFO',
        ],
        { dir: this.dir, env: pythonEnv(this.dir) },
      ),
    );
    await waitUntil(
      `celery worker ${name}`,
      () => Promise.resolve(worker.logTail().includes(`${name} ready.`) ? true : undefined),
      30_000,
      worker,
    );
    return worker;
  }

  /** `celery inspect ping --json` against `brokerUrl`: the names of the workers that answered. */
  async inspectPing(brokerUrl: string): Promise<string[]> {
    const run = promisify(execFile);
    try {
      const { stdout } = await run(PYTHON, ['-m', 'celery', '-b', brokerUrl, 'inspect', 'ping', '--json'], {
        cwd: this.dir,
        env: pythonEnv(this.dir),
        timeout: 30_000,
      });
      return Object.keys(JSON.parse(stdout) as Record<string, unknown>).sort();
    } catch (error) {
      // Exit 69 with "No nodes replied within time constraint" when no worker answers.
      if ((error as { code?: unknown }).code === 69) return [];
      throw error;
    }
  }

  /** SIGKILL to one process by PID (a worker dying without a word to the broker). */
  async kill(server: ServerProcess): Promise<void> {
    process.kill(server.pid, 'SIGKILL');
    this.servers.splice(this.servers.indexOf(server), 1);
    await waitUntil(
      'the killed process gone',
      () => Promise.resolve(server.exited() ? true : undefined),
      10_000,
    );
  }

  /**
   * Stops everything, workers first, then RabbitMQ (SIGTERM: it shuts down in a few seconds), then
   * epmd; throws when a process started here (or spawned by one, or naming this test's dir) is still
   * alive after: it is killed, and the suite fails.
   */
  async stopAll(): Promise<void> {
    const pids = new Set<number>();
    for (const server of this.servers) {
      pids.add(server.pid);
      for (const pid of descendants(server.pid)) pids.add(pid);
    }
    for (const server of this.servers.splice(0).reverse()) await stopServer(server, 20_000);
    const survivors = [...new Set([...pids, ...processesNaming(this.dir)])].filter(isAlive);
    for (const pid of survivors) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    if (survivors.length > 0)
      throw new Error(`processes started by the celery tests survived their stop: ${survivors.join(', ')}`);
  }

  private track(server: ServerProcess): ServerProcess {
    this.servers.push(server);
    return server;
  }
}

/** The environment of Debian's Python: the app's dir on its path, nothing of another Python's. */
function pythonEnv(dir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PYTHONPATH: dir, HOME: join(dir, 'home') };
  for (const name of ['PYTHONHOME', 'VIRTUAL_ENV', 'PYTHONSTARTUP', 'PYTHONUSERBASE']) delete env[name];
  return env;
}

/** Processes whose command line names `dir` (beam's names its mnesia dir there): ours, wherever they went. */
function processesNaming(dir: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(dir)) found.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

function tcpOpen(port: number): Promise<boolean | undefined> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(undefined));
  });
}
