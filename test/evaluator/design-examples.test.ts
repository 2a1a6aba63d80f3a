// Acceptance: the expressions of DESIGN.md's definitions, evaluated as a detector and as an
// evaluated check would. The YAML is DESIGN.md's, verbatim (test/fixtures/design-examples.ts); the
// collector data is given through a providers object (the live-collector version is elsewhere).
import { afterAll, describe, expect, it } from 'vitest';
import { Evaluator } from '../../agent/evaluator/index.js';
import { DESIGN_CHECK, DESIGN_DETECTOR } from '../fixtures/design-examples.js';
import { fakeProviders, fixtureRoot, removeFixtureRoots } from './helpers.js';

afterAll(removeFixtureRoots);

const detector = DESIGN_DETECTOR;
const check = DESIGN_CHECK;

describe('DESIGN.md detector', () => {
  it('applies on a CentOS machine', async () => {
    const root = fixtureRoot({ '/etc/redhat-release': 'CentOS Linux release 7.9.2009 (Core)\n' });
    expect(await new Evaluator(fakeProviders({ root })).evaluate(detector.apply_if)).toBe(true);
  });

  it('does not apply where /etc/redhat-release is missing or names another system', async () => {
    expect(await new Evaluator(fakeProviders({ root: fixtureRoot() })).evaluate(detector.apply_if)).toBe(
      false,
    );
    const fedora = fixtureRoot({ '/etc/redhat-release': 'Fedora release 39 (Thirty Nine)\n' });
    expect(await new Evaluator(fakeProviders({ root: fedora })).evaluate(detector.apply_if)).toBe(false);
  });
});

describe('DESIGN.md evaluated check', () => {
  function evaluatorWithIdle(idle: number): Evaluator {
    return new Evaluator(
      fakeProviders({ collectors: { cpustats: { cpuall: { '%idle': idle, '%user': 1.5 } } } }),
    );
  }
  // The check's own body is its configuration, as DESIGN.md's {configuration.thresholds...} implies.
  const scope = { configuration: check };

  it('reads the thresholds from the check body', () => {
    expect(check.thresholds).toEqual({ cpuidle: { warning: 5, critical: 1 } });
  });

  it('is OK with the idle CPU of the example data', async () => {
    const evaluator = evaluatorWithIdle(97.5);
    expect(await evaluator.evaluate(check.critical_if, scope)).toBe(false);
    expect(await evaluator.evaluate(check.warning_if, scope)).toBe(false);
    expect(await evaluator.evaluate(check.ok_output, scope)).toBe('OK: cpu is great: 2.5%');
    expect(await evaluator.evaluate(check.critical_output, scope)).toBe('Critical: cpu is too high: 2.5%');
    expect(await evaluator.evaluate(check.warning_output, scope)).toBe('Warning: cpu is very high: 2.5%');
  });

  it('warns below 5% idle and is critical below 1%', async () => {
    const busy = evaluatorWithIdle(3);
    expect(await busy.evaluate(check.warning_if, scope)).toBe(true);
    expect(await busy.evaluate(check.critical_if, scope)).toBe(false);
    expect(await busy.evaluate(check.warning_output, scope)).toBe('Warning: cpu is very high: 97%');

    const saturated = evaluatorWithIdle(0.5);
    expect(await saturated.evaluate(check.critical_if, scope)).toBe(true);
    expect(await saturated.evaluate(check.critical_output, scope)).toBe('Critical: cpu is too high: 99.5%');
  });

  it('lists what the check reads', () => {
    expect(evaluatorWithIdle(50).references(check.critical_if)).toEqual([
      { source: 'collector', path: 'cpustats.cpuall.%idle' },
      { source: 'configuration', path: 'thresholds.cpuidle.critical' },
    ]);
  });

  it('is unknown while the cpustats collector has no data yet', async () => {
    const empty = new Evaluator(fakeProviders());
    await expect(empty.evaluate(check.critical_if, scope)).rejects.toThrow(
      'unknown: collector.cpustats.cpuall.%idle is not available',
    );
  });
});
