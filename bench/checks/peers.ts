// The opsbro agents of bench:checks: each a real `opsbro agent start` on 127.0.0.1 free ports with
// its own temp config and data dirs, every shipped pack disabled (as opsbro-bare in bench:collectors),
// and a conf.d holding the bench's load: `checks.max_concurrent`, the one collector the evaluated
// checks read (loadaverage, every 10 s; only where there are evaluated checks) and the checks. What the bench reads of them:
// GET /monitoring/scheduler (runs, lag) and, once after the window, GET /monitoring/state.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CheckSchedulerAnswer, CheckStatus, NodeMonitoringState } from '../../agent/shared/api-types.js';
import type { Proc } from '../gossip/procs.js';
import { httpGet } from '../collectors/http.js';
import { shippedPacks, startOpsbro } from '../collectors/peers.js';

export const EVALUATED_INTERVAL_S = 10;
export const SCRIPT_INTERVAL_S = 60;
/** Checks per conf.d file: a file may hold 100,000 scalars (docs/configuration.md). */
const CHECKS_PER_FILE = 1000;

/**
 * opsbro: the agent, both loads on one agent; opsbro-evaluated and opsbro-scripts: each load
 * alone, so that each target is measured on what it is about.
 */
export type OpsbroPeerName = 'opsbro' | 'opsbro-evaluated' | 'opsbro-scripts';

export interface ChecksLoad {
  evaluated: number;
  scripts: number;
}

export interface OpsbroPeer {
  name: OpsbroPeerName;
  proc: Proc;
  url: string;
  load: ChecksLoad;
}

/** The part of the load each agent runs. */
export function loadOf(name: OpsbroPeerName, full: ChecksLoad): ChecksLoad {
  if (name === 'opsbro-evaluated') return { evaluated: full.evaluated, scripts: 0 };
  if (name === 'opsbro-scripts') return { evaluated: 0, scripts: full.scripts };
  return full;
}

/** Check runs a load starts per second, once spread over its intervals. */
export function runsPerSecond(load: ChecksLoad): number {
  return load.evaluated / EVALUATED_INTERVAL_S + load.scripts / SCRIPT_INTERVAL_S;
}

export const evaluatedName = (index: number): string => `eval-${String(index).padStart(5, '0')}`;
export const scriptName = (index: number): string => `script-${String(index).padStart(5, '0')}`;

/**
 * One evaluated check: a cheap comparison over a collector value, OK as long as the load stays
 * under 1000. Every other check reads its thresholds from its own configuration, as the seed's cpu
 * check does, with a warning_if too: two conditions and two configuration reads per run.
 */
function evaluatedCheckYaml(index: number): string[] {
  const head = ['- check:', `    name: ${evaluatedName(index)}`, `    interval: ${EVALUATED_INTERVAL_S}s`];
  if (index % 2 === 0) return [...head, '    critical_if: "{collector.loadaverage.load1} > 1000"'];
  return [
    ...head,
    '    critical_if: "{collector.loadaverage.load1} > {configuration.thresholds.load1.critical}"',
    '    warning_if: "{collector.loadaverage.load1} > {configuration.thresholds.load1.warning}"',
    '    thresholds: {load1: {warning: 500, critical: 1000}}',
  ];
}

/** One script check: the plugin Nagios runs for the same service, with the same arguments. */
function scriptCheckYaml(index: number): string[] {
  return [
    '- check:',
    `    name: ${scriptName(index)}`,
    `    interval: ${SCRIPT_INTERVAL_S}s`,
    '    script: "$nagiosplugins$/check_dummy 0 ok"',
  ];
}

/** conf.d files (name → YAML) for a load, with the concurrency bound. */
export function confD(load: ChecksLoad, maxConcurrent: number): Map<string, string> {
  const files = new Map<string, string>();
  files.set('00-settings.yml', `checks: {max_concurrent: ${maxConcurrent}}\n`);
  // Only where evaluated checks read it: the scripts-only agent runs what Nagios runs, nothing more.
  if (load.evaluated > 0)
    files.set(
      '01-loadaverage.yml',
      `collector: {name: loadaverage, type: loadaverage, interval: ${EVALUATED_INTERVAL_S}s}\n`,
    );
  const chunked = (prefix: string, count: number, yaml: (index: number) => string[]): void => {
    for (let first = 1; first <= count; first += CHECKS_PER_FILE) {
      const lines: string[] = [];
      for (let index = first; index < Math.min(first + CHECKS_PER_FILE, count + 1); index++)
        lines.push(...yaml(index));
      files.set(`${prefix}-${String(first).padStart(5, '0')}.yml`, lines.join('\n') + '\n');
    }
  };
  chunked('10-evaluated', load.evaluated, evaluatedCheckYaml);
  chunked('20-scripts', load.scripts, scriptCheckYaml);
  return files;
}

/**
 * Starts one agent with its load. bench:collectors' startOpsbro writes agent.yml (loopback, free
 * ports, packs disabled) under `<dir>/opsbro/config`; the load goes in that config dir's conf.d first.
 */
export async function startOpsbroPeer(
  dir: string,
  name: OpsbroPeerName,
  load: ChecksLoad,
  maxConcurrent: number,
): Promise<OpsbroPeer> {
  const peerDir = join(dir, name);
  const confDir = join(peerDir, 'opsbro', 'config', 'conf.d');
  mkdirSync(confDir, { recursive: true });
  for (const [file, yaml] of confD(load, maxConcurrent)) writeFileSync(join(confDir, file), yaml);
  const started = await startOpsbro(peerDir, 'opsbro', shippedPacks(false));
  const peer: OpsbroPeer = { name, proc: started.proc, url: started.url, load };
  // A load the agent did not take (a refused definition is a start error; a missing collector is not).
  const stats = await schedulerStats(peer);
  const expected = load.evaluated + load.scripts;
  if (stats.checks !== expected || stats.max_concurrent !== maxConcurrent)
    throw new Error(
      `${name}: the agent runs ${stats.checks} checks at most ${stats.max_concurrent} at once, ` +
        `expected ${expected} at most ${maxConcurrent} at once`,
    );
  return peer;
}

async function getJson<T>(peer: OpsbroPeer, path: string, timeoutMs: number): Promise<T> {
  const reply = await httpGet(`${peer.url}${path}`, timeoutMs);
  if (reply.status !== 200)
    throw new Error(`${peer.name}: GET ${path} answered ${reply.status}: ${reply.body.slice(0, 200)}`);
  return JSON.parse(reply.body) as T;
}

export function schedulerStats(peer: OpsbroPeer): Promise<CheckSchedulerAnswer> {
  return getJson<CheckSchedulerAnswer>(peer, '/monitoring/scheduler', 5000);
}

/** Every check's status (one large answer: read once, after the window). */
export async function checkStatuses(peer: OpsbroPeer): Promise<CheckStatus[]> {
  return (await getJson<NodeMonitoringState>(peer, '/monitoring/state', 60_000)).statuses;
}
