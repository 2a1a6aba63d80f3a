// skypunch's view of the checks (`opsbro targets`): every check of this node with its counters and
// whether it is switched on, one check's every detail, switching one on or off cluster-wide, and
// a test run that answers the timed trace. Reading is for anyone local; switching and running: admin.
import type { CheckRunAnswer, TargetStatus, TargetSwitchAnswer } from '../shared/api-types.js';
import { messageOf } from '../shared/errors.js';
import { HttpError, type Route } from '../shared/http.js';
import type { ChecksSubsystem } from './subsystem.js';

function unknownTarget(checks: ChecksSubsystem, name: string): HttpError {
  const names = checks.targets().map((target) => target.name);
  return new HttpError(
    404,
    `no check named ${name} on this node (known: ${names.join(', ') || 'none'}; see \`opsbro targets\`)`,
  );
}

function target(checks: ChecksSubsystem, name: string): TargetStatus {
  const found = checks.target(name);
  if (!found) throw unknownTarget(checks, name);
  return found;
}

export function targetRoutes(checks: ChecksSubsystem): Route[] {
  const switchTo =
    (enabled: boolean) =>
    async (name: string): Promise<TargetSwitchAnswer> => {
      let known: boolean;
      try {
        known = await checks.setEnabled(name, enabled);
      } catch (error) {
        throw new HttpError(503, `could not switch ${name} ${enabled ? 'on' : 'off'}: ${messageOf(error)}`);
      }
      if (!known) throw unknownTarget(checks, name);
      return { name, enabled };
    };
  const enable = switchTo(true);
  const disable = switchTo(false);
  return [
    {
      method: 'GET',
      path: '/monitoring/targets',
      access: 'read',
      description:
        "this node's checks, switched on or off, with their counters (pass, fail, 2xx-5xx, network, repeated)",
      handler: (): TargetStatus[] => checks.targets(),
    },
    {
      method: 'GET',
      path: '/monitoring/targets/:name',
      access: 'read',
      description: 'one check: its status, every counter, and whether it is switched on',
      handler: ({ params }): TargetStatus => target(checks, params.name!),
    },
    {
      method: 'POST',
      path: '/monitoring/targets/:name/enable',
      access: 'admin',
      description: 'switch a check on, on every node (kept in the KV store)',
      handler: ({ params }) => enable(params.name!),
    },
    {
      method: 'POST',
      path: '/monitoring/targets/:name/disable',
      access: 'admin',
      description: 'switch a check off, on every node (kept in the KV store)',
      handler: ({ params }) => disable(params.name!),
    },
    {
      method: 'POST',
      path: '/monitoring/targets/:name/test',
      access: 'admin',
      description: 'run a check now: its state, output and the timed trace (long_output)',
      handler: async ({ params }): Promise<CheckRunAnswer> => {
        if (!target(checks, params.name!).enabled)
          throw new HttpError(
            409,
            `${params.name} is switched off: \`opsbro targets ${params.name} enable\` first`,
          );
        try {
          const answer = await checks.runNow(params.name!);
          if (answer) return answer;
        } catch (error) {
          throw new HttpError(422, messageOf(error));
        }
        throw unknownTarget(checks, params.name!);
      },
    },
  ];
}
