// Platus' status API (github.com/fgouteroux/platus, docs/platus.md), so its consumers keep working:
// GET /api/v1.0/status answers `{"result": [...]}`, one item per check of this node as Platus
// reports a service. A check made from a Platus services.yaml (config/platus.ts) answers with what
// Platus would say of it (data.type, data.name, the host checked); any other check with its own
// name and type, and this node as its node. Read-only, like the other monitoring routes.
//
// A check whose last result has items (aws_ec2's instances, mongodb's members, celery's workers)
// is one item per instance, member or worker, as Platus' plugins report them: the service's name
// for each, the instance's id (with its Name tag as `nodename`), the member's host or the worker's
// node name as `node`, and that one's own state.
//
// This node's checks only: the tables gossip brings of other nodes hold a brief per check (state,
// state type, output, the time of the last change), not when it last ran, how long it took, its
// type nor where it came from, which Platus' items are made of (docs/platus.md, Cluster).
import { platusOriginOf } from '../config/platus.js';
import type {
  CheckItem,
  CheckState,
  CheckStatus,
  PlatusState,
  PlatusStatusAnswer,
  PlatusStatusItem,
} from '../shared/api-types.js';
import type { Route } from '../shared/http.js';
import type { ChecksSubsystem } from './subsystem.js';

export function platusRoutes(checks: ChecksSubsystem): Route[] {
  return [
    {
      method: 'GET',
      path: '/api/v1.0/status',
      access: 'read',
      description:
        "this node's checks as Platus reports services: {result: [{checked, elapsed, last_state, name, node, retries, state, type}]}, one per instance, member or worker of the checks that watch several",
      handler: (): PlatusStatusAnswer => platusStatus(checks.statuses(), checks.localTable().node),
    },
  ];
}

const PLATUS_STATE: Record<CheckState | 'pending', PlatusState> = {
  ok: 'operational',
  warning: 'unhealthy',
  critical: 'down',
  unknown: 'unknown',
  pending: 'unknown',
};

/** Platus' answer for `statuses` (this node's, named `node`): sorted by type, as Platus sorts it. */
export function platusStatus(statuses: readonly CheckStatus[], node: string): PlatusStatusAnswer {
  // A stable sort: a check's items stay in its order.
  const items = statuses
    .flatMap((status) => platusItems(status, node))
    .sort((a, b) => compare(a.type, b.type) || compare(a.name, b.name));
  // Platus' words when it has no service to report.
  return { result: items.length ? items : ['No data'] };
}

/**
 * An item of an aws_ec2 check also says its instance's Name tag, as Platus' aws_ec2 plugin does
 * (`nodename`, between `node` and `retries` in Flask's order).
 */
export type PlatusInstanceItem = PlatusStatusItem & { nodename?: string };

/** One Platus item per item of the check's last result, else one for the check. */
function platusItems(status: CheckStatus, node: string): PlatusInstanceItem[] {
  const whole = platusItem(status, node);
  if (!status.items?.length) return [whole];
  return status.items.map((item) => {
    const ok = item.state === 'ok';
    const named = item.id !== undefined && item.id !== item.name;
    // Keys in Platus' order, as platusItem's.
    return {
      ...(whole.checked !== undefined ? { checked: whole.checked } : {}),
      ...(whole.elapsed !== undefined ? { elapsed: whole.elapsed } : {}),
      // No history is kept per instance: an operational one has nothing to count, another
      // counts the check's own non-operational results in a row.
      last_state: ok ? 'operational' : whole.last_state,
      name: whole.name,
      node: itemNode(status, item),
      ...(named ? { nodename: item.name } : {}),
      retries: ok ? 0 : Math.max(1, whole.retries),
      state: PLATUS_STATE[item.state],
      type: whole.type,
    };
  });
}

/**
 * What Platus reports as an item's `node`: an instance's id (aws_ec2), a member's host without its
 * port (mongodb: `member['name'].split(':')[0]`), a worker's node name (celery).
 */
function itemNode(status: CheckStatus, item: CheckItem): string {
  if (item.id !== undefined) return item.id;
  if (status.type === 'mongodb') return item.name.replace(/:\d+$/, '');
  return item.name;
}

function platusItem(status: CheckStatus, node: string): PlatusStatusItem {
  const origin = platusOriginOf(status.notes);
  const ranAt = status.last_run_at === undefined ? NaN : Date.parse(status.last_run_at);
  const ran = !Number.isNaN(ranAt) && status.state !== 'pending';
  const durationUs = Math.max(0, Math.round((status.duration_ms ?? 0) * 1000));
  // Keys in Platus' order: Flask's jsonify sorts them.
  return {
    // Platus stamps a result when its check is over: the start, plus how long it took.
    ...(ran ? { checked: pythonDatetime(ranAt * 1000 + durationUs) } : {}),
    ...(ran ? { elapsed: pythonTimedelta(durationUs) } : {}),
    last_state: lastState(status),
    name: origin?.name ?? status.name,
    node: origin?.node ?? node,
    retries: retries(status),
    state: PLATUS_STATE[status.state],
    type: origin?.type ?? status.type,
  };
}

/** Non-operational results in a row, up to now (Platus counts them while notifying). */
function retries(status: CheckStatus): number {
  const recent = status.recent_states;
  let count = 0;
  while (count < recent.length && recent[recent.length - 1 - count] !== 'ok') count++;
  return count;
}

/**
 * Platus keeps the state a service had before its current run of problems: operational once it
 * was, else the first state it saw. Here: operational when one of the results kept (the last 21)
 * was, else the oldest of them.
 */
function lastState(status: CheckStatus): PlatusState {
  const recent = status.recent_states;
  if (!recent.length) return PLATUS_STATE[status.state];
  return recent.includes('ok') ? 'operational' : PLATUS_STATE[recent[0]!];
}

const pad = (value: number, width = 2) => String(value).padStart(width, '0');

/**
 * Python's str(datetime.now()), as Platus writes `checked`: local time, no zone,
 * `2017-04-30 16:57:57.459312` (no fraction when the microseconds are 0).
 */
export function pythonDatetime(epochUs: number): string {
  const ms = Math.floor(epochUs / 1000);
  const date = new Date(ms);
  const micros = date.getMilliseconds() * 1000 + (epochUs - ms * 1000);
  const day = `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
  const time = `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
  return `${day} ${time}${micros ? `.${pad(micros, 6)}` : ''}`;
}

/**
 * Python's str(timedelta), as Platus writes `elapsed`: `0:00:00.729046`, `0:00:03` (no fraction
 * when the microseconds are 0), `1 day, 2:03:04`.
 */
export function pythonTimedelta(us: number): string {
  const micros = us % 1_000_000;
  const seconds = Math.floor(us / 1_000_000);
  const days = Math.floor(seconds / 86_400);
  const hours = Math.floor((seconds % 86_400) / 3600);
  const clock = `${hours}:${pad(Math.floor((seconds % 3600) / 60))}:${pad(seconds % 60)}`;
  const prefix = days ? `${days} day${days === 1 ? '' : 's'}, ` : '';
  return `${prefix}${clock}${micros ? `.${pad(micros, 6)}` : ''}`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
