// The node's worst-of status, megaphone style: the most critical hard state among its checks
// (OK < UNKNOWN < WARNING < CRITICAL, megaphone's order), the non-OK ones in the message, and an
// override that forces CRITICAL until it is cleared. A pure function of the statuses: the routes
// and the tests call it with what they have.
import type {
  CheckState,
  CheckStatus,
  MegaphoneStatus,
  StatusAnswer,
  StatusCheck,
  StatusOverride,
} from '../shared/api-types.js';

/** Megaphone's order, best first. */
const SEVERITY: readonly CheckState[] = ['ok', 'unknown', 'warning', 'critical'];

export const severityOf = (state: CheckState): number => SEVERITY.indexOf(state);

const megaphone = (state: CheckState): MegaphoneStatus => state.toUpperCase() as MegaphoneStatus;

/**
 * The state a check adds to the node's: its hard state. A problem still soft (not yet confirmed by
 * max_attempts results) counts as the hard state before it, as Nagios would not notify it either;
 * a check without a result counts for nothing.
 */
function countedState(status: CheckStatus): CheckState | undefined {
  if (status.state === 'pending') return undefined;
  return status.state_type === 'hard' ? status.state : status.last_hard_state;
}

function statusCheck(status: CheckStatus): StatusCheck {
  return {
    name: status.name,
    status: status.state === 'pending' ? 'PENDING' : megaphone(status.state),
    state_type: status.state_type,
    message: status.output,
    ...(status.last_change_at ? { date: status.last_change_at } : {}),
  };
}

export function worstOf(
  statuses: readonly CheckStatus[],
  override: StatusOverride | undefined,
  now: Date,
): StatusAnswer {
  const counted = statuses
    .map((status) => ({ status, state: countedState(status) }))
    .filter((entry): entry is { status: CheckStatus; state: CheckState } => entry.state !== undefined);
  const worst = counted.reduce<CheckState>(
    (worst, { state }) => (severityOf(state) > severityOf(worst) ? state : worst),
    'ok',
  );
  const problems = counted
    .filter(({ state }) => state !== 'ok')
    .sort((a, b) => severityOf(b.state) - severityOf(a.state) || a.status.name.localeCompare(b.status.name))
    .map(({ status, state }) => `${megaphone(state)} ${status.name}: ${status.output}`);
  const parts = [
    ...(override ? [`overridden to CRITICAL since ${override.since}: ${override.reason}`] : []),
    ...problems,
  ];
  return {
    status: override ? 'CRITICAL' : megaphone(worst),
    date: now.toISOString(),
    message: parts.length ? parts.join('; ') : allWell(counted.length, statuses.length - counted.length),
    ...(override ? { override } : {}),
    checks: statuses.map(statusCheck),
  };
}

/** The message when nothing is wrong: how many checks say so, and how many have not said yet. */
function allWell(ok: number, pending: number): string {
  if (!ok && !pending) return 'no checks on this node';
  const waiting = pending ? `${pending} check${pending > 1 ? 's' : ''} without a result yet` : '';
  if (!ok) return waiting;
  return `${ok === 1 ? 'the check is' : `all ${ok} checks are`} OK${waiting ? `; ${waiting}` : ''}`;
}
