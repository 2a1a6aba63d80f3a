// HashiCorp Serf (Debian package `serf`): one `serf agent` process per node on 127.0.1.X:7946, RPC on
// 127.0.1.X:7373. The bench speaks Serf's RPC protocol (msgpack over TCP: a header map, then a body map)
// on one persistent connection per agent, instead of spawning `serf members` per agent per poll: 100
// CLI processes per poll round would cost more CPU than the 100 agents being measured. A `members` call
// reads the agent's live member table, so its answer is not delayed by Serf's event coalescing (which
// delays `serf monitor` streams and event handlers by 1-3 s).
import { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { decode, encode, Incomplete, type Value } from './msgpack.js';
import { describeExit, mapLimit, run, running, track } from './procs.js';
import { address, type Agent, type Cluster, type GossipSystem, type Member, type State } from './system.js';

const GOSSIP_PORT = 7946;
const RPC_PORT = 7373;
const REQUEST_TIMEOUT_MS = 10_000;
const READY_TIMEOUT_MS = 30_000;

interface Pending {
  resolve: (body: Value) => void;
  reject: (err: Error) => void;
  hasBody: boolean;
  timer: NodeJS.Timeout;
}

class SerfRpc {
  private seq = 0;
  private buf: Buffer = Buffer.alloc(0);
  private readonly pending = new Map<number, Pending>();
  private closedError: Error | undefined;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('serf rpc connection closed')));
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

  request(command: string, body: Value | undefined, hasBody: boolean): Promise<Value> {
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

  private onData(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      let offset: number;
      let header: { Seq?: number; Error?: string };
      let body: Value = null;
      let p: Pending | undefined;
      try {
        const h = decode(this.buf);
        header = h.value as { Seq?: number; Error?: string };
        offset = h.offset;
        p = this.pending.get(header.Seq ?? -1);
        if (p?.hasBody) {
          const b = decode(this.buf, offset);
          body = b.value;
          offset = b.offset;
        }
      } catch (err) {
        if (err instanceof Incomplete) return; // wait for more bytes
        this.fail(err as Error);
        this.socket.destroy();
        return;
      }
      this.buf = this.buf.subarray(offset);
      if (!p) continue; // a response to a request that already timed out
      this.pending.delete(header.Seq!);
      clearTimeout(p.timer);
      if (header.Error) p.reject(new Error(`serf rpc: ${header.Error}`));
      else p.resolve(body);
    }
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

async function connectWhenReady(agent: Agent): Promise<SerfRpc> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (!running(agent.proc)) throw new Error(describeExit(agent.proc));
    try {
      return await SerfRpc.connect(agent.address, RPC_PORT);
    } catch (err) {
      if (Date.now() > deadline)
        throw new Error(`${agent.name}: rpc not ready: ${String(err)}`, { cause: err });
      await sleep(100);
    }
  }
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
