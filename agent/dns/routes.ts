// The DNS interface's route: what it answered, for anyone local (read).
import type { DnsStatsAnswer } from '../shared/api-types.js';
import type { Route } from '../shared/http.js';
import type { DnsSubsystem } from './subsystem.js';

export function dnsRoutes(dns: DnsSubsystem): Route[] {
  return [
    {
      method: 'GET',
      path: '/dns/stats',
      access: 'read',
      description:
        'the DNS interface: queries by transport, answers by rcode, truncations, forwards, latency',
      handler: (): DnsStatsAnswer => dns.statistics(),
    },
  ];
}
