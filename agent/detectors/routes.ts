// GET /agent/detectors.
import type { Route } from '../shared/http.js';
import type { DetectorsSubsystem } from './subsystem.js';

export function detectorRoutes(detectors: DetectorsSubsystem): Route[] {
  return [
    {
      method: 'GET',
      path: '/agent/detectors',
      access: 'read',
      description: 'detectors: name, pack, rule, last result, groups added; and the node groups',
      handler: () => ({
        groups: detectors.nodeGroups(),
        static_groups: detectors.staticNodeGroups(),
        detectors: detectors.list(),
      }),
    },
  ];
}
