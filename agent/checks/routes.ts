// The checks' routes: this node's check table and statuses, any node's table (answered from what
// gossip holds here), one check's detail and a run on demand, the scheduler's load and lag, and
// megaphone's worst-of status with its override. Reading is for anyone local; running a check and overriding change the agent: admin.
import { Type } from '@sinclair/typebox';
import type {
  CheckDetail,
  CheckPlacement,
  CheckRunAnswer,
  CheckSchedulerAnswer,
  NodeCheckTable,
  NodeMonitoringState,
  OverrideAnswer,
  StatusAnswer,
} from '../shared/api-types.js';
import { bodyParser } from '../shared/body.js';
import { messageOf } from '../shared/errors.js';
import { HttpError, type Route } from '../shared/http.js';
import type { ChecksSubsystem } from './subsystem.js';

/** The longest override reason kept: it travels in the node's gossip state. */
export const MAX_OVERRIDE_REASON_CHARS = 200;

const overrideBody = bodyParser(
  Type.Object(
    {
      state: Type.Literal('critical'),
      reason: Type.String({ minLength: 1, maxLength: MAX_OVERRIDE_REASON_CHARS }),
    },
    { additionalProperties: false },
  ),
  '{"state": "critical", "reason": "why"}',
);

function unknownCheck(checks: ChecksSubsystem, name: string): HttpError {
  const names = checks.names();
  return new HttpError(
    404,
    `no check named ${name} on this node (known: ${names.join(', ') || 'none'}; see \`opsbro checks list\`)`,
  );
}

export function checkRoutes(checks: ChecksSubsystem): Route[] {
  return [
    {
      method: 'GET',
      path: '/monitoring/state',
      access: 'read',
      description: "this node's check table (version, briefs, override) and every check's status",
      handler: (): NodeMonitoringState => checks.monitoringState(),
    },
    {
      method: 'GET',
      path: '/monitoring/tables',
      access: 'read',
      description: "every node's check table, as gossip holds them here (this node's included)",
      handler: (): NodeCheckTable[] => checks.tables(),
    },
    {
      method: 'GET',
      path: '/monitoring/state/:node',
      access: 'read',
      description: "one node's check table (by name or id), answered from what this node holds",
      handler: ({ params }): NodeCheckTable => {
        const tables = checks.tables();
        const found = tables.find((table) => table.node === params.node || table.node_id === params.node);
        if (found) return found;
        const names = tables.map((table) => table.node).sort();
        throw new HttpError(
          404,
          `no check table for a node named ${params.node} (known: ${names.join(', ') || 'none'}; see \`opsbro gossip members\`)`,
        );
      },
    },
    {
      method: 'GET',
      path: '/monitoring/checks/:name',
      access: 'read',
      description: "one check's status, its recent results and its state changes (history)",
      handler: async ({ params }): Promise<CheckDetail> => {
        const detail = await checks.detail(params.name!);
        if (!detail) throw unknownCheck(checks, params.name!);
        return detail;
      },
    },
    {
      method: 'POST',
      path: '/monitoring/checks/:name/run',
      access: 'admin',
      description: 'run one check now: its state, output, perfdata and duration',
      handler: async ({ params }): Promise<CheckRunAnswer> => {
        let answer: CheckRunAnswer | undefined;
        try {
          answer = await checks.runNow(params.name!);
        } catch (error) {
          throw new HttpError(422, messageOf(error));
        }
        if (!answer) throw unknownCheck(checks, params.name!);
        return answer;
      },
    },
    {
      method: 'GET',
      path: '/monitoring/placed',
      access: 'read',
      description: 'the placed checks (run_on) this node holds: their runners, results and combined state',
      handler: (): CheckPlacement[] => checks.placements(),
    },
    {
      method: 'GET',
      path: '/monitoring/scheduler',
      access: 'read',
      description: "the checks' scheduler: runs under way and queued, started, skipped, lag p50/p99",
      handler: (): CheckSchedulerAnswer => checks.schedulerStats(),
    },
    {
      method: 'GET',
      path: '/status',
      access: 'read',
      description: "worst-of status of this node's checks, megaphone style: {status, date, message, checks}",
      handler: (): StatusAnswer => checks.status(),
    },
    {
      method: 'POST',
      path: '/status/override',
      access: 'admin',
      description: 'force this node CRITICAL until cleared: {"state": "critical", "reason": "..."}',
      handler: ({ body }): OverrideAnswer => {
        const { reason } = overrideBody.parse(body);
        return { override: checks.setOverride(reason) };
      },
    },
    {
      method: 'DELETE',
      path: '/status/override',
      access: 'admin',
      description: 'clear the override: {cleared} (false when there was none)',
      handler: (): OverrideAnswer => ({ cleared: checks.clearOverride() }),
    },
  ];
}
