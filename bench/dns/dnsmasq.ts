// dnsmasq as bench:dns and the DNS tests run it: in the foreground, on 127.0.0.1 and a given port,
// answering only from one hosts file (no resolv.conf, no /etc/hosts, no config file, no pidfile).
export const DNSMASQ = '/usr/sbin/dnsmasq';

export function dnsmasqArgs(port: number, hostsFile: string, extra: string[] = []): string[] {
  return [
    '--keep-in-foreground',
    '--conf-file=/dev/null',
    `--port=${port}`,
    '--listen-address=127.0.0.1',
    '--bind-interfaces',
    '--no-resolv',
    '--no-hosts',
    `--addn-hosts=${hostsFile}`,
    '--pid-file=',
    '--user=root',
    ...extra,
  ];
}
