// Gossip byte counting.
//
// Each system's agents live on their own /24 (serf 127.0.1.0/24, opsbro 127.0.2.0/24) and their gossip on
// known ports, so an nftables table with named counters on the `output` hook counts exactly their
// traffic. Every loopback packet passes `output` once (and `input` once more), so counting on output
// alone counts each packet once. Bytes are IP packet lengths (IP + UDP/TCP headers + payload).
//
// Rules match by destination block and gossip port, not by source: a UDP gossip packet is sent from the
// bound socket (source = the agent's 127.0.x.y), but an outgoing TCP connection (push-pull) is not bound,
// so the kernel picks 127.0.0.1 as its source. So:
//   udp:  daddr in block, dport = gossip UDP port                      (pings, acks, gossip)
//   tcp:  daddr in block, dport = stream port  +  saddr in block, sport = stream port   (push-pull)
// The RPC/API ports the bench itself polls (serf 7373, opsbro 6770) are not counted.
//
// Fallback when nft is missing or not permitted: /proc/net/dev `lo` tx bytes (systems run one at a time,
// so that is this system's traffic plus the bench's own light polling; marked approximate).
// Setup: `apt-get install -y nftables` (bench/gossip/setup.sh), run as root.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface CounterSpec {
  system: string;
  block: string; // e.g. 127.0.1.0/24
  udpPort: number;
  tcpPort: number;
}

export interface ByteReading {
  udp: number | null;
  tcp: number | null;
  total: number;
}

export interface ByteCounter {
  method: 'nftables' | 'proc-net-dev-lo (approximate)';
  note: string;
  read(system: string): ByteReading;
  close(): void;
}

function loTxBytes(): number {
  const line = readFileSync('/proc/net/dev', 'utf8')
    .split('\n')
    .find((l) => l.trim().startsWith('lo:'));
  // lo: rx_bytes rx_packets ... (8 rx fields) tx_bytes ...
  const fields = line?.split(':')[1]?.trim().split(/\s+/) ?? [];
  return Number(fields[8]);
}

export function openByteCounter(specs: CounterSpec[]): ByteCounter {
  const table = `opsbro_bench_gossip_${process.pid}`;
  const counters = specs.flatMap((s) => [`${s.system}_udp`, `${s.system}_tcp`]);
  const rules = specs.flatMap((s) => [
    `ip daddr ${s.block} udp dport ${s.udpPort} counter name "${s.system}_udp"`,
    `ip daddr ${s.block} tcp dport ${s.tcpPort} counter name "${s.system}_tcp"`,
    `ip saddr ${s.block} tcp sport ${s.tcpPort} counter name "${s.system}_tcp"`,
  ]);
  const script = [
    `table inet ${table} {`,
    ...counters.map((c) => `  counter ${c} {}`),
    '  chain out {',
    '    type filter hook output priority 0; policy accept;',
    ...rules.map((r) => `    ${r}`),
    '  }',
    '}',
  ].join('\n');
  try {
    execFileSync('nft', ['-f', '-'], { input: script, stdio: ['pipe', 'ignore', 'pipe'] });
  } catch (err) {
    const reason = (err as { stderr?: Buffer }).stderr?.toString().trim() || String(err);
    return {
      method: 'proc-net-dev-lo (approximate)',
      note: `nft unavailable (${reason.split('\n')[0]}); counting all lo tx bytes while one system runs`,
      read: () => ({ udp: null, tcp: null, total: loTxBytes() }),
      close: () => {},
    };
  }
  let open = true;
  return {
    method: 'nftables',
    note: `nft table inet ${table}, output hook, counters per system: ${rules.join('; ')}`,
    read(system) {
      const out = execFileSync('nft', ['-j', 'list', 'counters', 'table', 'inet', table], {
        encoding: 'utf8',
      });
      const items = (JSON.parse(out) as { nftables: { counter?: { name: string; bytes: number } }[] })
        .nftables;
      const bytes = (name: string): number =>
        items.find((i) => i.counter?.name === name)?.counter?.bytes ?? NaN;
      const udp = bytes(`${system}_udp`);
      const tcp = bytes(`${system}_tcp`);
      return { udp, tcp, total: udp + tcp };
    },
    close() {
      if (!open) return;
      open = false;
      try {
        execFileSync('nft', ['delete', 'table', 'inet', table], { stdio: 'ignore' });
      } catch {
        // Already gone.
      }
    },
  };
}
