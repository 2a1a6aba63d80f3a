// HashiCorp Serf (Debian package `serf`): one `serf agent` process per node on 127.0.1.X:7946, RPC on
// 127.0.1.X:7373. The bench speaks Serf's RPC protocol (msgpack over TCP: a header map, then a body map)
// on one persistent connection per agent, instead of spawning `serf members` per agent per poll: 100
// CLI processes per poll round would cost more CPU than the 100 agents being measured. A `members` call
// reads the agent's live member table, so its answer is not delayed by Serf's event coalescing (which
// delays `serf monitor` streams and event handlers by 1-3 s).
import { Socket } from 'node:net';
import { decodeMultiStream, encode } from '@msgpack/msgpack';
import { mapLimit, retryWhileRunning, run, track } from './procs.js';
import { address, type Agent, type Cluster, type GossipSystem, type Member, type State } from './system.js';
import { asError } from '../../agent/rpc/errors.js';

const GOSSIP_PORT = 7946;
const RPC_PORT = 7373;
const REQUEST_TIMEOUT_MS = 10_000;
const READY_TIMEOUT_MS = 30_000;

interface Pending {
  resolve: (body: unknown) => void;
  reject: (err: Error) => void;
  hasBody: boolean;
  timer: NodeJS.Timeout;
}

interface ResponseHeader {
  Seq?: number;
  Error?: string;
}

class SerfRpc {
  private seq = 0;
  private readonly pending = new Map<number, Pending>();
  private closedError: Error | undefined;

  private constructor(private readonly socket: Socket) {
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('serf rpc connection closed')));
    void this.readResponses();
  }

  static connect(host: string, port: number): Promise<SerfRpc> {
    return new Promise((resolve, reject) => {
      const socket = new Socket();
      socket.setNoDelay(true);
      socket.once('error', reject);
      socket.connect(port, host, () => {
        socket.off('error', reject);
        const rpc = new SerfRpc(socket);
        rpc.request('handshake', { Version: 1 }, false).then(
          () => resolve(rpc),
          (err: Error) => {
            rpc.close();
            reject(err);
          },
        );
      });
    });
  }

  request(command: string, body: Record<string, unknown> | undefined, hasBody: boolean): Promise<unknown> {
    if (this.closedError) return Promise.reject(this.closedError);
    const seq = this.seq++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(seq);
        reject(new Error(`serf rpc ${command} timed out`));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(seq, { resolve, reject, hasBody, timer });
      const parts = [encode({ Command: command, Seq: seq })];
      if (body !== undefined) parts.push(encode(body));
      this.socket.write(Buffer.concat(parts));
    });
  }

  close(): void {
    this.fail(new Error('serf rpc connection closed'));
    this.socket.destroy();
  }

  private fail(err: Error): void {
    this.closedError ??= err;
    for (const [seq, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(seq);
      p.reject(err);
    }
  }

  /** Each response is a header map, then a body map when its request expects one. */
  private async readResponses(): Promise<void> {
    let awaitingBody: { seq: number; header: ResponseHeader } | undefined;
    try {
      for await (const value of decodeMultiStream(this.socket)) {
        if (awaitingBody) {
          this.settle(awaitingBody.seq, awaitingBody.header, value);
          awaitingBody = undefined;
          continue;
        }
        const header = value as ResponseHeader;
        const seq = header.Seq ?? -1;
        if (this.pending.get(seq)?.hasBody) awaitingBody = { seq, header };
        else this.settle(seq, header, null);
      }
    } catch (err) {
      this.fail(asError(err));
      this.socket.destroy();
    }
  }

  private settle(seq: number, header: ResponseHeader, body: unknown): void {
    const p = this.pending.get(seq);
    if (!p) return; // a response to a request that already timed out
    this.pending.delete(seq);
    clearTimeout(p.timer);
    if (header.Error) p.reject(new Error(`serf rpc: ${header.Error}`));
    else p.resolve(body);
  }
}

function toState(status: string): State {
  if (status === 'alive') return 'alive';
  if (status === 'failed') return 'failed';
  if (status === 'left' || status === 'leaving') return 'left';
  return 'other';
}

/** Counts memberlist's "[WARN] memberlist: Refuting a suspect/dead message" lines: each is a live agent
 * that had been suspected (or declared dead) by someone. Serf's RPC does not show `suspect`. */
function countRefutations(agent: Agent, counter: { n: number }): void {
  for (const stream of [agent.proc.child.stdout, agent.proc.child.stderr]) {
    let rest = '';
    stream?.on('data', (chunk: Buffer) => {
      const lines = (rest + chunk.toString()).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) if (line.includes('Refuting a')) counter.n++;
    });
  }
}

function connectWhenReady(agent: Agent): Promise<SerfRpc> {
  return retryWhileRunning(agent.proc, 'rpc not ready', READY_TIMEOUT_MS, 100, () =>
    SerfRpc.connect(agent.address, RPC_PORT),
  );
}

export const serf: GossipSystem = {
  name: 'serf',
  block: '127.0.1',
  udpPort: GOSSIP_PORT,
  tcpPort: GOSSIP_PORT,

  async unavailable() {
    try {
      const { code, output } = await run('serf version', 'serf', ['version'], 10_000);
      return code === 0 ? null : `\`serf version\` exited ${code}: ${output.trim()}`;
    } catch (err) {
      return `serf is not installed (${String(err)}): apt-get update && apt-get install -y serf`;
    }
  },

  async version() {
    const { output } = await run('serf version', 'serf', ['version'], 10_000);
    return output.split('\n')[0]?.trim() ?? 'unknown';
  },

  async start(n, _dir, batch) {
    const agents: Agent[] = [];
    const rpcs = new Map<Agent, SerfRpc>();
    const refuted = { n: 0 };
    const cluster: Cluster = {
      agents,
      async members(agent) {
        const rpc = rpcs.get(agent);
        if (!rpc) throw new Error(`${agent.name}: no rpc connection`);
        const body = (await rpc.request('members', undefined, true)) as {
          Members?: { Name: string; Status: string }[];
        };
        return (body.Members ?? []).map((m): Member => ({ name: m.Name, state: toState(m.Status) }));
      },
      async notAlive(agent) {
        const rpc = rpcs.get(agent);
        if (!rpc) throw new Error(`${agent.name}: no rpc connection`);
        const filter = { Tags: {}, Status: 'failed|left|leaving', Name: '' }; // regexes, anchored by serf
        const body = (await rpc.request('members-filtered', filter, true)) as {
          Members?: { Name: string; Status: string }[];
        };
        return (body.Members ?? []).map((m): Member => ({ name: m.Name, state: toState(m.Status) }));
      },
      async join(concurrency) {
        const seed = `${agents[0]!.address}:${GOSSIP_PORT}`;
        return mapLimit(agents.slice(1), concurrency, async (agent) => {
          const t = performance.now();
          const rpc = rpcs.get(agent)!;
          const body = (await rpc.request('join', { Existing: [seed], Replay: false }, true)) as {
            Num?: number;
          };
          if (!body.Num) throw new Error(`${agent.name}: join ${seed} contacted no node`);
          return performance.now() - t;
        });
      },
      refutations: () => refuted.n,
      close() {
        for (const rpc of rpcs.values()) rpc.close();
        rpcs.clear();
      },
    };
    try {
      for (let first = 1; first <= n; first += batch) {
        const started: Agent[] = [];
        for (let i = first; i < Math.min(first + batch, n + 1); i++) {
          const name = `serf-${i}`;
          const addr = address(this.block, i);
          const proc = track(name, 'serf', [
            'agent',
            `-node=${name}`,
            `-bind=${addr}:${GOSSIP_PORT}`,
            `-rpc-addr=${addr}:${RPC_PORT}`,
            '-log-level=warn',
          ]);
          const agent: Agent = { index: i, name, address: addr, proc };
          countRefutations(agent, refuted);
          started.push(agent);
        }
        agents.push(...started);
        for (const agent of started) rpcs.set(agent, await connectWhenReady(agent));
      }
    } catch (err) {
      cluster.close();
      throw err;
    }
    return cluster;
  },
};
