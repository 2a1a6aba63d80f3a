// system: what this host is: hostname and FQDN, OS distribution and version (<root>/etc/os-release),
// architecture, kernel release, CPU count and model (<proc>/cpuinfo), IP addresses per interface and
// boot time.
//
// The FQDN is the hostname when it holds a dot; else the first dotted name of the <root>/etc/hosts line
// naming the host; else what the resolver says (lookup, then reverse lookup of that address) within
// FQDN_TIMEOUT_MS, remembered for FQDN_CACHE_MS so a slow resolver costs at most one stuck lookup at a
// time (waiting at most a quarter of the run's timeout); else the hostname. Interface addresses are those of the agent's network namespace (node:os).
import { lookup, lookupService } from 'node:dns/promises';
import { hostname as osHostname, machine, networkInterfaces, release } from 'node:os';
import { join } from 'node:path';
import type {
  CollectContext,
  CollectedData,
  CollectorInstance,
  CollectorType,
  HostPaths,
} from '../collector.js';
import { missingProcFile, parseEnvFile, procPath, readOptionalText, readText } from './proc-files.js';
import { readBootTime } from './uptime.js';

const FQDN_TIMEOUT_MS = 1000;
const FQDN_CACHE_MS = 10 * 60_000;

/** A dotted name for `host` from an /etc/hosts text, if a line names it. */
export function fqdnFromHosts(hostsText: string, host: string): string | undefined {
  for (const raw of hostsText.split('\n')) {
    const names = raw.replace(/#.*/, '').trim().split(/\s+/).slice(1);
    if (names.includes(host)) {
      const dotted = names.find((name) => name.includes('.') && name.split('.')[0] === host);
      if (dotted) return dotted;
    }
  }
  return undefined;
}

/** CPU count ("processor" lines) and model of /proc/cpuinfo, across x86 and ARM/POWER/MIPS spellings. */
export function parseCpuinfo(text: string): { count: number; model: string } {
  let count = 0;
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const key = line.slice(0, colon).trim();
    if (key === 'processor') count++;
    if (!fields.has(key)) fields.set(key, line.slice(colon + 1).trim());
  }
  const model = ['model name', 'Model', 'cpu model', 'cpu', 'Hardware', 'Processor']
    .map((key) => fields.get(key))
    .find((value) => value !== undefined && value !== '' && !/^\d+$/.test(value));
  return { count, model: model ?? 'unknown' };
}

/** IP addresses per interface of this network namespace. */
function addresses(): CollectedData {
  const out: CollectedData = {};
  for (const [name, list] of Object.entries(networkInterfaces()))
    if (list && list.length) out[name] = list.map((entry) => entry.address);
  return out;
}

class System implements CollectorInstance {
  private fqdnCache: { host: string; fqdn: string; until: number } | undefined;
  /** The resolver lookup in flight, if any: never more than one (a hung resolver holds a libuv thread). */
  private resolving: Promise<string | undefined> | undefined;

  notEligibleReason(paths: HostPaths): string | undefined {
    return missingProcFile(paths, 'cpuinfo', 'stat');
  }

  /** Synchronous unless the FQDN needs the resolver (at most once per FQDN_CACHE_MS). */
  collect({ paths, timeoutMs }: CollectContext): CollectedData | Promise<CollectedData> {
    const host = (readOptionalText(procPath(paths, 'sys/kernel/hostname')) ?? osHostname()).trim();
    const osRelease = parseEnvFile(
      readOptionalText(join(paths.root, 'etc/os-release')) ??
        readOptionalText(join(paths.root, 'usr/lib/os-release')) ??
        '',
    );
    const cpu = parseCpuinfo(readText(procPath(paths, 'cpuinfo')));
    const kernel = (readOptionalText(procPath(paths, 'sys/kernel/osrelease')) ?? release()).trim();
    const bootTime = readBootTime(paths);
    const data = (fqdn: string): CollectedData => ({
      hostname: host,
      fqdn,
      os: {
        name: 'linux',
        distribution: osRelease.ID ?? 'unknown',
        version: osRelease.VERSION_ID ?? '',
        pretty_name: osRelease.PRETTY_NAME ?? osRelease.NAME ?? 'Linux',
      },
      arch: machine(), // the kernel's name: x86_64, aarch64
      kernel,
      cpu_count: cpu.count,
      cpu_model: cpu.model,
      addresses: addresses(),
      boot_time: bootTime,
    });
    const known = this.knownFqdn(paths, host);
    return known !== undefined
      ? data(known)
      : this.askResolver(host, Math.min(FQDN_TIMEOUT_MS, timeoutMs / 4)).then(data);
  }

  /** The FQDN without asking the resolver: the hostname if dotted, /etc/hosts, or the cached answer. */
  private knownFqdn(paths: HostPaths, host: string): string | undefined {
    if (host.includes('.')) return host;
    const fromHosts = fqdnFromHosts(readOptionalText(join(paths.root, 'etc/hosts')) ?? '', host);
    if (fromHosts) return fromHosts;
    const cached = this.fqdnCache;
    if (cached && cached.host === host && Date.now() < cached.until) return cached.fqdn;
    return undefined;
  }

  private async askResolver(host: string, waitMs: number): Promise<string> {
    this.resolving ??= resolveFqdn(host).finally(() => (this.resolving = undefined));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>(
      (resolve) => (timer = setTimeout(() => resolve(undefined), waitMs)),
    );
    const resolved = await Promise.race([this.resolving, timeout]).finally(() => clearTimeout(timer));
    const fqdn = resolved ?? host;
    this.fqdnCache = { host, fqdn, until: Date.now() + FQDN_CACHE_MS };
    return fqdn;
  }
}

/** Forward then reverse lookup through the system resolver (nsswitch: files, DNS...). */
async function resolveFqdn(host: string): Promise<string | undefined> {
  try {
    const { address } = await lookup(host);
    const { hostname } = await lookupService(address, 0);
    return hostname.includes('.') && hostname.split('.')[0] === host ? hostname : undefined;
  } catch {
    return undefined;
  }
}

export const system: CollectorType = {
  type: 'system',
  description: 'Hostname, FQDN, distribution and version, kernel, arch, CPU count and model, addresses',
  defaultSettings: {},
  create: () => new System(),
};
