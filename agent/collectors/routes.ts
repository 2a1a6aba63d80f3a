// GET /agent/collectors and /agent/collectors/:name.
import { HttpError, type Route } from '../shared/http.js';
import type { CollectorsSubsystem } from './subsystem.js';

export function collectorRoutes(collectors: CollectorsSubsystem): Route[] {
  return [
    {
      method: 'GET',
      path: '/agent/collectors',
      access: 'read',
      description: 'collectors: name, type, pack, interval, state (PENDING/OK/ERROR/NOT-ELIGIBLE), last run',
      handler: () => collectors.list(),
    },
    {
      method: 'GET',
      path: '/agent/collectors/:name',
      access: 'read',
      description: "one collector's status and its last data",
      handler: ({ params }) => {
        const found = collectors.show(params.name!);
        if (!found) {
          const names = collectors.list().map((status) => status.name);
          throw new HttpError(
            404,
            `no collector named ${params.name} (known: ${names.join(', ') || 'none'})`,
          );
        }
        return found;
      },
    },
  ];
}
