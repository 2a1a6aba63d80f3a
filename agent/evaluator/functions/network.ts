// Network functions. check_tcp opens one TCP connection to exactly the host and port the
// expression names, sends nothing and closes it: it answers "does something listen there".
import { BlockList, connect, isIP, type LookupFunction } from 'node:net';
import { CHECK_TCP_DEFAULT_TIMEOUT_S, CHECK_TCP_MAX_TIMEOUT_S } from '../limits.js';
import type { EvaluatorFunction } from './types.js';

/** True once connected, false on refusal, error or timeout (name resolution included). */
function tcpConnects(
  host: string,
  port: number,
  timeoutMs: number,
  lookup: LookupFunction,
): Promise<boolean> {
  return new Promise((resolve) => {
    // The socket's own timeout counts from creation, so it covers the name lookup too, which goes
    // through the evaluator's I/O gate (a silent resolver holds a thread-pool thread).
    const socket = connect({ host, port, timeout: timeoutMs, lookup });
    const done = (connected: boolean): void => {
      socket.destroy();
      resolve(connected);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}

const MAPPED_IPV4 = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;

export const NETWORK_FUNCTIONS: readonly EvaluatorFunction[] = [
  {
    kind: 'io',
    name: 'check_tcp',
    signature: `check_tcp(host, port, timeout_s=${CHECK_TCP_DEFAULT_TIMEOUT_S})`,
    doc: `True when a TCP connection to host:port opens within timeout_s seconds (at most ${CHECK_TCP_MAX_TIMEOUT_S}).`,
    async run(args, context) {
      const host = args.string(0).replace(/^\[(.*)\]$/, '$1');
      if (host === '' || host.length > 253) throw args.error(0, 'must be a host name or an IP address');
      const port = args.integer(1);
      if (port < 1 || port > 65_535) throw args.error(1, 'must be from 1 to 65535');
      const timeoutS = args.number(2, CHECK_TCP_DEFAULT_TIMEOUT_S);
      if (!(timeoutS > 0 && timeoutS <= CHECK_TCP_MAX_TIMEOUT_S)) {
        throw args.error(2, `must be more than 0 and at most ${CHECK_TCP_MAX_TIMEOUT_S} (seconds)`);
      }
      return tcpConnects(host, port, timeoutS * 1000, context.host.socketLookup);
    },
  },
  {
    kind: 'io',
    name: 'host_to_ip',
    signature: 'host_to_ip(host)',
    doc: "The host's first IPv4 address from the system resolver, or '' when it does not resolve.",
    run(args, context) {
      const host = args.string(0);
      if (host === '' || host.length > 253) throw args.error(0, 'must be a host name');
      return context.host.lookupIpv4(host);
    },
  },
  {
    kind: 'plain',
    name: 'ip_is_in_range',
    signature: 'ip_is_in_range(ip, cidr)',
    doc: "True when the IPv4 or IPv6 address is inside the range, e.g. ip_is_in_range('10.0.3.7', '10.0.0.0/16').",
    call(args) {
      const [network = '', prefixText, ...extra] = args.string(1).split('/');
      const family = isIP(network);
      const maxPrefix = family === 4 ? 32 : 128;
      const prefix = prefixText === undefined ? maxPrefix : Number(prefixText);
      if (
        family === 0 ||
        extra.length > 0 ||
        !/^\d*$/.test(prefixText ?? '') ||
        !(prefix >= 0 && prefix <= maxPrefix)
      ) {
        throw args.error(1, "must be a range like '10.0.0.0/8' or 'fd00::/8'");
      }
      let ip = args.string(0);
      if (family === 4) ip = MAPPED_IPV4.exec(ip)?.[1] ?? ip;
      const ipFamily = isIP(ip);
      if (ipFamily === 0) throw args.error(0, 'must be an IPv4 or IPv6 address');
      if (ipFamily !== family) return false;
      const range = new BlockList();
      const type = family === 4 ? 'ipv4' : 'ipv6';
      range.addSubnet(network, prefix, type);
      return range.check(ip, type);
    },
  },
];
