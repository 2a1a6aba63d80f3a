// The DNS interface (docs/dns.md): the cluster's groups and nodes as names any resolver can ask,
// answered from live membership. Membership and check states reach it through a provider main
// injects (gossip's members, with their CRITICAL counts); the events that change them mark the
// directory stale, so the next answer is built from the cluster as it is.
import type { MetricFamily } from '../shared/exposition.js';
import type { AgentSettings } from '../config/index.js';
import type { EventBus } from '../events/index.js';
import type { Logger } from '../log/index.js';
import type { DnsStatsAnswer, SubsystemState } from '../shared/api-types.js';
import { messageOf } from '../shared/errors.js';
import type { Route } from '../shared/http.js';
import type { Subsystem } from '../subsystem.js';
import { MemberDirectory, type DnsMember } from './directory.js';
import { normalizedDomain } from './names.js';
import { Recursors } from './recursors.js';
import { parseHostPort } from '../shared/addresses.js';
import { DnsResponder } from './responder.js';
import { dnsRoutes } from './routes.js';
import { DnsServers } from './servers.js';
import { DnsStats } from './stats.js';

/** However quiet the events, the directory is rebuilt at least this often. */
export const DIRECTORY_MAX_AGE_MS = 1000;

const INVALIDATING_EVENTS = [
  'node-join',
  'node-update',
  'node-suspect',
  'node-dead',
  'node-leave',
  'check-table-changed',
  'groups-changed',
] as const;

export interface DnsSubsystemOptions {
  settings: AgentSettings;
  members: () => readonly DnsMember[];
  events: EventBus;
  logger: Logger;
}

export class DnsSubsystem implements Subsystem {
  readonly name = 'dns';
  private readonly stats = new DnsStats();
  private readonly directory: MemberDirectory;
  private readonly servers: DnsServers;
  private boundPort?: number;
  private readonly unsubscribes: Array<() => void> = [];

  constructor(private readonly options: DnsSubsystemOptions) {
    const { settings } = options;
    this.directory = new MemberDirectory(options.members, settings.datacenter, DIRECTORY_MAX_AGE_MS);
    // The loader refused what does not parse (config/loader.ts, checkDns).
    const recursors = settings.dns.recursors.map((text) => parseHostPort(text, 53)!);
    const forwarder = recursors.length ? new Recursors(recursors) : undefined;
    const responder = new DnsResponder({
      domain: normalizedDomain(settings.dns.domain),
      datacenter: settings.datacenter,
      ttl: settings.dns.ttl,
      onlyPassing: settings.dns.only_passing,
      directory: this.directory,
      ...(forwarder ? { forward: (query, transport) => forwarder.forward(query, transport) } : {}),
    });
    this.servers = new DnsServers(responder, this.stats);
  }

  async start(): Promise<void> {
    const { dns } = this.options.settings;
    if (!dns.enabled) return;
    for (const event of INVALIDATING_EVENTS) {
      this.unsubscribes.push(this.options.events.on(event, () => this.directory.invalidate()));
    }
    try {
      this.boundPort = await this.servers.listen(dns.bind, dns.port);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const why =
        code === 'EADDRINUSE'
          ? 'the port is already in use'
          : code === 'EACCES'
            ? 'permission denied (a port under 1024 needs CAP_NET_BIND_SERVICE: docs/dns.md)'
            : messageOf(error);
      throw new Error(`DNS cannot listen on ${dns.bind}:${dns.port} (udp and tcp): ${why}`, { cause: error });
    }
    this.options.logger.info('DNS listening', {
      address: `${dns.bind}:${this.boundPort}`,
      domain: normalizedDomain(dns.domain),
    });
  }

  async stop(): Promise<void> {
    for (const unsubscribe of this.unsubscribes.splice(0)) unsubscribe();
    await this.servers.close();
  }

  state(): SubsystemState {
    return { status: 'ok' };
  }

  exposition(): MetricFamily[] {
    return [
      {
        name: 'opsbro_dns_queries_total',
        help: 'DNS queries, by transport',
        type: 'counter',
        labelNames: ['transport'],
        samples: () => {
          const { queries } = this.stats.snapshot();
          return [
            { labels: { transport: 'udp' }, value: queries.udp },
            { labels: { transport: 'tcp' }, value: queries.tcp },
          ];
        },
      },
      {
        name: 'opsbro_dns_answers_total',
        help: 'DNS answers, by response code',
        type: 'counter',
        labelNames: ['rcode'],
        samples: () =>
          Object.entries(this.stats.snapshot().answers).map(([rcode, value]) => ({
            labels: { rcode },
            value,
          })),
      },
    ];
  }

  routes(): Route[] {
    return dnsRoutes(this);
  }

  /** The port DNS listens on (UDP and TCP), once started; undefined when disabled. */
  get port(): number | undefined {
    return this.boundPort;
  }

  statistics(): DnsStatsAnswer {
    return {
      ...this.stats.snapshot(),
      enabled: this.options.settings.dns.enabled,
      ...(this.boundPort !== undefined ? { port: this.boundPort } : {}),
    };
  }
}
