// Installed packages, from the package managers' own databases under the host root: dpkg's status
// file (Debian, Ubuntu) and apk's installed file (Alpine) are text, read here; the rpm database
// (RHEL, Fedora, SUSE) is a binary store, asked through the rpm command (rpm.ts).
import { hostPath } from './host-files.js';
import { rpmHas } from './rpm.js';
import type { EvaluatorFunction } from './types.js';

/** dpkg: a stanza with `Package: name` (or `name:arch`) and `Status: install ok installed`. */
function dpkgHas(status: string, name: string): boolean {
  return status.split(/\n\s*\n/).some((stanza) => {
    const fields = new Map<string, string>();
    for (const line of stanza.split('\n')) {
      const colon = line.indexOf(':');
      if (colon > 0 && !line.startsWith(' ')) fields.set(line.slice(0, colon), line.slice(colon + 1).trim());
    }
    const packageName = fields.get('Package');
    const named = packageName === name || `${packageName}:${fields.get('Architecture')}` === name;
    return named && fields.get('Status') === 'install ok installed';
  });
}

/** apk: one `P:name` line per installed package. */
function apkHas(installed: string, name: string): boolean {
  return installed.split('\n').some((line) => line === `P:${name}`);
}

export const PACKAGE_FUNCTIONS: readonly EvaluatorFunction[] = [
  {
    kind: 'io',
    name: 'has_package',
    signature: 'has_package(name)',
    doc: 'True when the package is installed, per dpkg (/var/lib/dpkg/status), apk (/lib/apk/db/installed) or rpm.',
    async run(args, { providers, readFile }) {
      const name = args.string(0);
      const dpkg = await readFile(hostPath(providers.paths, '/var/lib/dpkg/status'));
      if (dpkg !== undefined && dpkgHas(dpkg, name)) return true;
      const apk = await readFile(hostPath(providers.paths, '/lib/apk/db/installed'));
      if (apk !== undefined && apkHas(apk, name)) return true;
      return (await rpmHas(providers.paths, name)) ?? false;
    },
  },
];
