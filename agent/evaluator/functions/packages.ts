// Installed packages, from the package managers' own databases under the host root: dpkg's status
// file (Debian, Ubuntu) and apk's installed file (Alpine) are text, parsed here; the rpm database
// (RHEL, Fedora, SUSE) is a binary store, asked through the rpm command (rpm.ts). A detector asks
// every interval and dpkg's status runs to megabytes, so each database is parsed once per version
// of its file (mtime and size: one stat per call) and answers come from the parsed names.
import type { HostAccess } from '../host/host-access.js';
import { fileVersion, hostPath } from './host-files.js';
import { rpmHas } from './rpm.js';
import type { EvaluatorFunction } from './types.js';

/** dpkg: `name` and `name:arch` of each stanza with `Status: install ok installed`. */
function dpkgInstalled(status: string): Set<string> {
  const names = new Set<string>();
  for (const stanza of status.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    for (const line of stanza.split('\n')) {
      const colon = line.indexOf(':');
      if (colon > 0 && !line.startsWith(' ')) fields.set(line.slice(0, colon), line.slice(colon + 1).trim());
    }
    const name = fields.get('Package');
    if (!name || fields.get('Status') !== 'install ok installed') continue;
    names.add(name);
    const arch = fields.get('Architecture');
    if (arch) names.add(`${name}:${arch}`);
  }
  return names;
}

/** apk: one `P:name` line per installed package. */
function apkInstalled(installed: string): Set<string> {
  const names = new Set<string>();
  for (const line of installed.split('\n')) if (line.startsWith('P:')) names.add(line.slice(2));
  return names;
}

const parsed = new Map<string, { version: string; names: Set<string> }>();

/** The installed names of a text database, parsed again only when its file changed; undefined without one. */
async function installedNames(
  host: HostAccess,
  file: string,
  parse: (text: string) => Set<string>,
): Promise<Set<string> | undefined> {
  const stats = await host.stat(file, true);
  if (!stats?.isFile()) return undefined;
  const version = fileVersion(stats);
  const known = parsed.get(file);
  if (known?.version === version) return known.names;
  const text = await host.readFile(file);
  if (text === undefined) return undefined;
  const names = parse(text);
  parsed.set(file, { version, names });
  return names;
}

export const PACKAGE_FUNCTIONS: readonly EvaluatorFunction[] = [
  {
    kind: 'io',
    name: 'has_package',
    signature: 'has_package(name)',
    doc: 'True when the package is installed, per dpkg (/var/lib/dpkg/status), apk (/lib/apk/db/installed) or rpm.',
    async run(args, { providers, host }) {
      const name = args.string(0);
      const dpkg = await installedNames(
        host,
        hostPath(providers.paths, '/var/lib/dpkg/status'),
        dpkgInstalled,
      );
      if (dpkg?.has(name)) return true;
      const apk = await installedNames(
        host,
        hostPath(providers.paths, '/lib/apk/db/installed'),
        apkInstalled,
      );
      if (apk?.has(name)) return true;
      return (await rpmHas(host, providers.paths, name)) ?? false;
    },
  },
];
