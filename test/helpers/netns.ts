// Test helpers for network namespaces: a private L2 segment (a bridge in the root namespace with
// no address and no real interface attached) and one namespace per agent, linked to the bridge by
// a veth pair. Everything is created and removed by the test that asks for it.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { OPSBRO_BIN, type RunResult } from './agent-process.js';

export interface IpResult {
  ok: boolean;
  output: string;
}

/** Runs `ip ARGS...` to completion. */
export function ip(args: string[]): IpResult {
  const result = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim();
  if (result.error) return { ok: false, output: `ip ${args.join(' ')}: ${result.error.message}` };
  return { ok: result.status === 0, output: output || `ip ${args.join(' ')}: exit ${result.status}` };
}

function must(args: string[]): void {
  const result = ip(args);
  if (!result.ok) throw new Error(`ip ${args.join(' ')} failed: ${result.output}`);
}

/**
 * Why network namespaces cannot be used here (not root, no `ip`, no netns or bridge support), or
 * undefined when they can. Probes with a throwaway namespace and bridge, removed at once.
 */
export function netnsUnavailableReason(probeName: string): string | undefined {
  const added = ip(['netns', 'add', probeName]);
  if (!added.ok) return `\`ip netns add\` is not permitted here: ${added.output}`;
  try {
    const exec = ip(['netns', 'exec', probeName, 'ip', 'link', 'set', 'lo', 'up']);
    if (!exec.ok) return `\`ip netns exec\` is not permitted here: ${exec.output}`;
    const bridge = ip(['link', 'add', `${probeName}br`, 'type', 'bridge']);
    if (!bridge.ok) return `cannot create a bridge: ${bridge.output}`;
    ip(['link', 'del', `${probeName}br`]);
    return undefined;
  } finally {
    ip(['netns', 'del', probeName]);
  }
}

export interface Namespace {
  name: string;
  /** The namespace's address on the bridge (no prefix length). */
  address: string;
}

/** A bridge and namespaces attached to it; `destroy()` removes all of them (best effort, idempotent). */
export class NetnsLan {
  readonly namespaces: Namespace[] = [];
  private bridgeCreated = false;

  /** `bridge`: the bridge's name (<= 15 chars); `prefix`: e.g. "198.18.77" for a /24. */
  constructor(
    readonly bridge: string,
    private readonly prefix: string,
  ) {
    if (bridge.length > 15) throw new Error(`interface name too long: ${bridge}`);
  }

  createBridge(): void {
    // A bridge left by an earlier, interrupted run with the same name goes first.
    if (ip(['link', 'show', this.bridge]).ok) must(['link', 'del', this.bridge]);
    must(['link', 'add', this.bridge, 'type', 'bridge']);
    this.bridgeCreated = true;
    must(['link', 'set', this.bridge, 'up']);
  }

  /** A namespace named `name` with lo up and `<prefix>.<host>/24` on a veth attached to the bridge. */
  addNamespace(name: string, host: number): Namespace {
    const outside = `${name}h`;
    const inside = `${name}n`;
    if (outside.length > 15) throw new Error(`interface name too long: ${outside}`);
    if (ip(['netns', 'pids', name]).ok) ip(['netns', 'del', name]);
    must(['netns', 'add', name]);
    const namespace = { name, address: `${this.prefix}.${host}` };
    this.namespaces.push(namespace);
    must(['link', 'add', outside, 'type', 'veth', 'peer', 'name', inside, 'netns', name]);
    must(['link', 'set', outside, 'master', this.bridge, 'up']);
    must(['netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up']);
    must(['netns', 'exec', name, 'ip', 'addr', 'add', `${namespace.address}/24`, 'dev', inside]);
    must(['netns', 'exec', name, 'ip', 'link', 'set', inside, 'up']);
    return namespace;
  }

  /** Removes every namespace (their veth pairs go with them) and the bridge. Returns what failed. */
  destroy(): string[] {
    const errors: string[] = [];
    for (const { name } of this.namespaces.splice(0)) {
      const result = ip(['netns', 'del', name]);
      if (!result.ok) errors.push(result.output);
    }
    if (this.bridgeCreated) {
      const result = ip(['link', 'del', this.bridge]);
      if (!result.ok) errors.push(result.output);
      this.bridgeCreated = false;
    }
    return errors;
  }
}

/** Spawns `opsbro ARGS...` inside `namespace` (`ip netns exec` execs, so the pid is node's). */
export function spawnInNamespace(namespace: string, args: string[]): ChildProcess {
  return spawn('ip', ['netns', 'exec', namespace, process.execPath, OPSBRO_BIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1', OPSBRO_API: '', OPSBRO_TOKEN: '' },
  });
}

/** Runs `opsbro ARGS...` inside `namespace` to completion, without blocking the event loop. */
export function runInNamespace(namespace: string, args: string[], timeoutMs = 30_000): Promise<RunResult> {
  const child = spawnInNamespace(namespace, args);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
