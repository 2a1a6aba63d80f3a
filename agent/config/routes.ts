// GET /agent/packs and /agent/packs/:name: what each pack ships and its parameters in effect.
import type { PackAnswer } from '../shared/api-types.js';
import { HttpError, type Route } from '../shared/http.js';
import type { LoadedConfig } from './loader.js';
import { hideSecrets } from './secrets.js';

export function packRoutes(config: () => LoadedConfig): Route[] {
  const describe = (name: string): PackAnswer | undefined => {
    const { packs, definitions } = config();
    const pack = packs.find((candidate) => candidate.name === name);
    if (!pack) return undefined;
    const shipped = definitions.filter((definition) => definition.pack === name);
    const names = (kind: string) => shipped.filter((d) => d.kind === kind).map((d) => d.name);
    return {
      name: pack.name,
      description: pack.description,
      version: pack.version,
      enabled: pack.enabled,
      dir: pack.dir,
      // Any local user may read this route: a pack's password never leaves the config files.
      parameters: hideSecrets(pack.parameters),
      defaults: hideSecrets(pack.defaults),
      overridden: pack.overridden,
      detectors: names('detector'),
      collectors: names('collector'),
      checks: names('check'),
      handlers: names('handler'),
    };
  };
  return [
    {
      method: 'GET',
      path: '/agent/packs',
      access: 'read',
      description: 'packs: name, version, description, parameters in effect, definitions shipped',
      handler: () => config().packs.map((pack) => describe(pack.name)),
    },
    {
      method: 'GET',
      path: '/agent/packs/:name',
      access: 'read',
      description: 'one pack',
      handler: ({ params }) => {
        const found = describe(params.name!);
        if (!found) {
          const names = config().packs.map((pack) => pack.name);
          throw new HttpError(404, `no pack named ${params.name} (known: ${names.join(', ') || 'none'})`);
        }
        return found;
      },
    },
  ];
}
