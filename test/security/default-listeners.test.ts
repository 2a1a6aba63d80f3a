// Safe defaults for the cluster ports (issue 10 item 7): the embedded defaults without a key listen
// on nothing beyond loopback; an explicit address beyond loopback without a key is refused unless
// the operator allows an open cluster, and then `agent info` says so in red.
import { cpSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  cleanupAll,
  freePort,
  REPO_ROOT,
  runCli,
  startAgent,
  tempDir,
  type TestAgentDirs,
} from '../helpers/agent-process.js';

afterAll(cleanupAll);

/**
 * The package's etc/ as is, plus conf.d/ports.yml moving every port (nothing else): the API,
 * gossip and DNS to whatever is free (port 0: startAgent reads them from the agent), the RPC to a port
 * chosen in advance (nodes advertise it as configured).
 */
async function embeddedDefaults(extra = ''): Promise<TestAgentDirs> {
  const root = tempDir();
  const configDir = join(root, 'etc');
  cpSync(join(REPO_ROOT, 'etc'), configDir, { recursive: true });
  const rpc = await freePort();
  const portsFile = join(configDir, 'conf.d', 'ports.yml');
  writeFileSync(
    portsFile,
    `api:\n  port: 0\ngossip:\n  port: 0\nrpc:\n  port: ${rpc}\ndns:\n  port: 0\nstatsd:\n  port: 0\ngraphite:\n  port: 0\n${extra}`,
  );
  return {
    root,
    configDir,
    dataDir: join(root, 'data'),
    port: 0,
    apiPortFromAgent: true,
    chosenRpcPort: rpc,
    rpcPortFile: portsFile,
  };
}

/** Local addresses of the TCP and UDP sockets `pid` holds, from /proc/net/* (hex, kernel byte order). */
function listeningAddresses(pid: number): string[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode) inodes.add(inode);
    } catch {
      // closed meanwhile
    }
  }
  const addresses: string[] = [];
  for (const table of ['tcp', 'tcp6', 'udp', 'udp6']) {
    const lines = readFileSync(`/proc/${pid}/net/${table}`, 'utf8').trim().split('\n').slice(1);
    for (const line of lines) {
      const fields = line.trim().split(/\s+/);
      if (!inodes.has(fields[9]!)) continue;
      // A listening TCP socket (state 0A) or any bound UDP socket; connected TCP sockets are peers.
      if (table.startsWith('tcp') && fields[3] !== '0A') continue;
      addresses.push(`${table} ${decodeAddress(fields[1]!)}`);
    }
  }
  return addresses;
}

function decodeAddress(hex: string): string {
  const [address, port] = hex.split(':') as [string, string];
  if (address.length === 8) {
    const octets = (address.match(/../g) ?? []).map((byte) => parseInt(byte, 16)).reverse();
    return `${octets.join('.')}:${parseInt(port, 16)}`;
  }
  // IPv6: four little-endian 32-bit words.
  const words = (address.match(/.{8}/g) ?? []).map((word) => (word.match(/../g) ?? []).reverse().join(''));
  const groups = words.join('').match(/.{4}/g) ?? [];
  return `[${groups.map((group) => group.replace(/^0+(?=.)/, '')).join(':')}]:${parseInt(port, 16)}`;
}

const LOOPBACK = /^(tcp|udp)6? (127\.\d+\.\d+\.\d+|\[0:0:0:0:0:0:0:1\]):\d+$/;

describe('cluster ports without a key', () => {
  it('the embedded defaults listen beyond loopback on nothing, and say why', async () => {
    const dirs = await embeddedDefaults();
    const agent = await startAgent(dirs);
    const addresses = listeningAddresses(agent.process.pid!);
    // API, gossip UDP, RPC TCP at least.
    expect(addresses.length).toBeGreaterThanOrEqual(3);
    expect(addresses.filter((address) => !LOOPBACK.test(address))).toEqual([]);
    const info = JSON.parse(
      runCli(['agent', 'info', '--json', '--api', `http://127.0.0.1:${dirs.port}`]).stdout,
    ) as {
      cluster: { bind: string; loopback_only?: string };
    };
    expect(info.cluster.bind).toBe('127.0.0.1');
    expect(info.cluster.loopback_only).toMatch(
      /^no encryption_key: gossip and RPC listen on 127\.0\.0\.1 only/,
    );
    expect(agent.output()).toContain('no encryption_key: gossip and RPC listen on 127.0.0.1 only');
  });

  it('refuses an explicit address beyond loopback, with the way out', async () => {
    const dirs = await embeddedDefaults('bind_addr: 0.0.0.0\n');
    const result = runCli(['agent', 'start', '--config-dir', dirs.configDir, '--data-dir', dirs.dataDir]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'opsbro: bind_addr 0.0.0.0 would open the gossip and RPC ports beyond this machine without encryption: ' +
        'set encryption_key to a key from `opsbro agent keygen` (the same on every node), ' +
        'or set allow_unencrypted_cluster: true to accept an open cluster\n',
    );
  });

  it('allow_unencrypted_cluster opens it, and agent info warns in red', async () => {
    const dirs = await embeddedDefaults('bind_addr: 0.0.0.0\nallow_unencrypted_cluster: true\n');
    await startAgent(dirs);
    const api = `http://127.0.0.1:${dirs.port}`;
    const shown = runCli(['agent', 'info', '--api', api], { NO_COLOR: '', FORCE_COLOR: '1' }).stdout;
    expect(shown).toContain('\x1b[31mthe cluster listens on 0.0.0.0 WITHOUT encryption');
    expect(shown).toContain('\x1b[31mdisabled: no encryption_key: the cluster is open to anyone');
  });

  it('with a key, the default is every interface', async () => {
    const key = runCli(['agent', 'keygen']).stdout.trim();
    const dirs = await embeddedDefaults(`encryption_key: "${key}"\n`);
    const agent = await startAgent(dirs);
    const addresses = listeningAddresses(agent.process.pid!);
    const { ports } = JSON.parse(
      runCli(['agent', 'info', '--json', '--api', `http://127.0.0.1:${dirs.port}`]).stdout,
    ) as { ports: { gossip: number; rpc: number } };
    expect(ports.rpc).toBe(dirs.chosenRpcPort);
    expect(addresses).toContain(`udp 0.0.0.0:${ports.gossip}`);
    expect(addresses).toContain(`tcp 0.0.0.0:${ports.rpc}`);
  });
});
