// The Linux OS collectors: against a fixture proc tree written here (exact figures worked out by hand
// from the fixture's two snapshots), then against this machine's live /proc (keys, ranges, and interval
// rates that see load the test itself creates).
import { spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdirSync, readdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { createServer, connect, type AddressInfo } from 'node:net';
import { cpus, hostname, machine, release, totalmem, uptime as osUptime } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type {
  CollectContext,
  CollectedData,
  CollectorInstance,
  HostPaths,
} from '../../agent/collectors/collector.js';
import { cpuPercents } from '../../agent/collectors/os/cpustats.js';
import { isReportedDevice } from '../../agent/collectors/os/diskio.js';
import { reportedMounts } from '../../agent/collectors/os/diskusage.js';
import { OS_COLLECTOR_TYPES } from '../../agent/collectors/os/index.js';
import { parseKeyValueLines, readText } from '../../agent/collectors/os/proc-files.js';
import { perSecond, RateTracker } from '../../agent/collectors/os/rates.js';
import { fqdnFromHosts, parseCpuinfo } from '../../agent/collectors/os/system.js';
import { cleanupAll, tempDir } from '../helpers/agent-process.js';

afterEach(cleanupAll);

const LIVE: HostPaths = { root: '/', proc: '/proc', sys: '/sys' };

function create(type: string): CollectorInstance {
  const collectorType = OS_COLLECTOR_TYPES.find((t) => t.type === type);
  if (!collectorType) throw new Error(`no collector type ${type}`);
  return collectorType.create(collectorType.defaultSettings);
}

function context(paths: HostPaths): CollectContext {
  return { paths, signal: new AbortController().signal, timeoutMs: 5000 };
}

/** One run as a promise, whether the collector answers synchronously or not. */
function runOnce(instance: CollectorInstance, paths: HostPaths): Promise<CollectedData> {
  return Promise.resolve().then(() => instance.collect(context(paths)));
}

/** Nested value at a dotted path of a collection ("cpuall.%idle"), failing the test when absent. */
function at(data: CollectedData, path: string): unknown {
  let value: unknown = data;
  for (const key of path.split('.')) {
    if (value === null || typeof value !== 'object' || !(key in value))
      throw new Error(`no ${path} in ${JSON.stringify(data).slice(0, 500)}`);
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

function num(data: CollectedData, path: string): number {
  const value = at(data, path);
  if (typeof value !== 'number' || !Number.isFinite(value))
    throw new Error(`${path} is not a number: ${String(value)}`);
  return value;
}

// ---------------------------------------------------------------------------------------------------
// The fixture: a host tree (root with etc/, proc/) in a temp dir, in two snapshots ten seconds apart.

/** /proc/<pid>/stat: pid (comm) state, 16 fields, num_threads, then the rest. */
function statLine(pid: number, comm: string, state: string, threads: number): string {
  return `${pid} (${comm}) ${state} 1 1 1 0 -1 4194560 10 0 0 0 5 3 0 0 20 0 ${threads} 0 100 1000 200\n`;
}

const SNAPSHOT_1: Record<string, string> = {
  uptime: '1000.00 1500.00\n',
  // cpu: user nice system idle iowait irq softirq steal guest guest_nice (total of the first 8: 1000)
  stat: [
    'cpu  100 0 50 800 20 10 10 10 7 0',
    'cpu0 60 0 30 390 10 5 3 2 7 0',
    'cpu1 40 0 20 410 10 5 7 8 0 0',
    'intr 50000 10 20 30',
    'ctxt 100000',
    'btime 1700000000',
    'processes 2000',
    'procs_running 2',
    'procs_blocked 1',
    'softirq 10 1 2',
    '',
  ].join('\n'),
  meminfo: [
    'MemTotal:        1000000 kB',
    'MemFree:          200000 kB',
    'MemAvailable:     600000 kB',
    'Buffers:           10000 kB',
    'Cached:           300000 kB',
    'Active(anon):       1000 kB',
    'SwapTotal:        500000 kB',
    'SwapFree:         400000 kB',
    'HugePages_Total:       4',
    'Hugepagesize:       2048 kB',
    '',
  ].join('\n'),
  loadavg: '0.50 0.25 0.10 3/250 12345\n',
  // major minor name reads merged sectors_read ms_read writes merged sectors_written ms_write inflight io_ms weighted
  diskstats: [
    '   8       0 sda 1000 0 20000 0 500 0 10000 0 0 3000 0 0 0 0 0 0 0',
    '   8       1 sda1 900 0 18000 0 400 0 8000 0 0 2500 0 0 0 0 0 0 0',
    '   7       0 loop0 10 0 80 0 0 0 0 0 0 5 0 0 0 0 0 0 0',
    '   1       0 ram0 10 0 80 0 0 0 0 0 0 5 0 0 0 0 0 0 0',
    ' 253       0 dm-0 100 0 2000 0 50 0 1000 0 0 400 0',
    ' 259       0 nvme0n1 4000 0 8000 0 2000 0 4000 0 0 1000 0 0 0 0 0 0 0',
    ' 259       1 nvme0n1p1 4000 0 8000 0 2000 0 4000 0 0 1000 0 0 0 0 0 0 0',
    '',
  ].join('\n'),
  'net/dev': [
    'Inter-|   Receive                                                |  Transmit',
    ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
    '    lo:  100000    1000    0    0    0     0          0         0   100000    1000    0    0    0     0       0          0',
    '  eth0:1000000 2000 10 20 0 0 0 0 500000 1500 50 60 0 0 0 0',
    '',
  ].join('\n'),
  'net/tcp': [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1',
    '   1: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000   106        0 1002 1',
    '   2: 0202000A:0016 0302000A:D084 01 00000000:00000000 00:00000000 00000000     0        0 1003 1',
    '   3: 0202000A:9C40 507100CB:0050 06 00000000:00000000 03:0000171D 00000000     0        0 0 3',
    // Never in a real table (listeners come first): shows the collector stopped reading at the first connection.
    '   4: 00000000:270F 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1004 1',
    '',
  ].join('\n'),
  // Listeners first, as the kernel lists them; a SYN_RECV after its listener (kernels before 4.4); 40 more
  // listeners so the lines span several of the collector's 1 KiB reads.
  'net/tcp6': [
    '  sl  local_address                         remote_address                        st tx_queue rx_queue',
    '   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000',
    '   1: 00000000000000000000000000000000:0016 0000000000000000FFFF00000302000A:D084 03 00000000:00000000',
    '   2: 00000000000000000000000000000000:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000',
    ...Array.from(
      { length: 40 },
      (_, i) =>
        `  ${i + 3}: 00000000000000000000000000000000:${(20000 + i).toString(16).toUpperCase()} 00000000000000000000000000000000:0000 0A 00000000:00000000`,
    ),
    '',
  ].join('\n'),
  'net/udp': [
    '   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops',
    '  100: 00000000:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 2001 2',
    '  101: 0202000A:C350 08080808:0035 01 00000000:00000000 00:00000000 00000000     0        0 2002 2',
    '',
  ].join('\n'),
  // No net/udp6: IPv6 off. The *6 tables are optional.
  cpuinfo: [
    'processor\t: 0',
    'vendor_id\t: GenuineIntel',
    'model name\t: Fixture CPU @ 2.00GHz',
    '',
    'processor\t: 1',
    'vendor_id\t: GenuineIntel',
    'model name\t: Fixture CPU @ 2.00GHz',
    '',
  ].join('\n'),
  'sys/kernel/hostname': 'web1\n',
  'sys/kernel/osrelease': '5.10.0-fixture\n',
  '1/mounts': [
    '/dev/sda1 / ext4 rw,relatime 0 0',
    'proc /proc proc rw 0 0',
    'sysfs /sys sysfs rw 0 0',
    'cgroup2 /sys/fs/cgroup cgroup2 rw 0 0',
    'tmpfs /run tmpfs rw 0 0',
    'overlay /var/lib/docker/overlay2/abc/merged overlay rw 0 0',
    '/dev/sdb1 /srv/my\\040data ext4 rw 0 0',
    'shm /dev/shm tmpfs rw 0 0',
    'squash /snap/core squashfs ro 0 0',
    '/dev/sdc1 /gone ext4 rw 0 0',
    '',
  ].join('\n'),
  '1/stat': statLine(1, 'init', 'S', 1),
  '2/stat': statLine(2, 'kworker/0:1 (x) y', 'I', 1),
  '100/stat': statLine(100, 'busy', 'R', 4),
  '101/stat': statLine(101, 'dd', 'D', 1),
  '102/stat': statLine(102, 'defunct', 'Z', 1),
  '103/stat': statLine(103, 'stopped', 'T', 2),
};

/** Ten seconds later. */
const SNAPSHOT_2: Record<string, string> = {
  ...SNAPSHOT_1,
  uptime: '1010.00 1518.00\n',
  // Deltas: cpu user 300 system 100 idle 1500 iowait 50 irq 25 softirq 15 steal 10 (total 2000); guest
  // +30 is already inside user and must not count twice.
  stat: [
    'cpu  400 0 150 2300 70 35 25 20 37 0',
    'cpu0 260 0 80 1120 20 10 6 4 37 0',
    'cpu1 140 0 70 1180 50 25 19 16 0 0',
    'intr 60000 10 20 30',
    'ctxt 150000',
    'btime 1700000000',
    'processes 2100',
    'procs_running 5',
    'procs_blocked 0',
    '',
  ].join('\n'),
  // sda: +200 reads, +40960 sectors read, +100 writes, +20480 sectors written, +2500 ms of I/O.
  // dm-0: its counters went down (device re-created): the new values are the increase.
  diskstats: [
    '   8       0 sda 1200 0 60960 0 600 0 30480 0 0 5500 0 0 0 0 0 0 0',
    ' 253       0 dm-0 30 0 200 0 5 0 100 0 0 40 0',
    ' 259       0 nvme0n1 4000 0 8000 0 2000 0 4000 0 0 1000 0 0 0 0 0 0 0',
    '',
  ].join('\n'),
  'net/dev': [
    'Inter-|   Receive                                                |  Transmit',
    ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
    '    lo:  100000    1000    0    0    0     0          0         0   100000    1000    0    0    0     0       0          0',
    '  eth0:2234560 3000 10 21 0 0 0 0 525600 2000 50 60 0 0 0 0',
    '  wg0: 5000 10 0 0 0 0 0 0 2000 4 0 0 0 0 0 0',
    '',
  ].join('\n'),
};

interface Fixture {
  paths: HostPaths;
  write: (snapshot: Record<string, string>) => void;
}

function fixture(): Fixture {
  const root = tempDir('opsbro-proc-fixture-');
  const paths: HostPaths = { root, proc: join(root, 'proc'), sys: join(root, 'sys') };
  mkdirSync(join(root, 'etc'), { recursive: true });
  mkdirSync(join(root, 'run'));
  mkdirSync(join(root, 'srv', 'my data'), { recursive: true });
  writeFileSync(
    join(root, 'etc', 'os-release'),
    'NAME="Ubuntu"\nVERSION_ID="22.04"\nID=ubuntu\nPRETTY_NAME="Ubuntu 22.04.3 LTS"\n',
  );
  writeFileSync(join(root, 'etc', 'hosts'), '127.0.0.1 localhost\n127.0.1.1 web1.example.com web1 # me\n');
  const write = (snapshot: Record<string, string>): void => {
    rmSync(paths.proc, { recursive: true, force: true });
    for (const [file, text] of Object.entries(snapshot)) {
      const path = join(paths.proc, file);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, text);
    }
  };
  write(SNAPSHOT_1);
  return { paths, write };
}

/**
 * Runs a collector on SNAPSHOT_1, then on SNAPSHOT_2 (ten seconds later): both collections, and the
 * instance and paths for more runs.
 */
async function acrossSnapshots(type: string): Promise<{
  first: CollectedData;
  second: CollectedData;
  instance: CollectorInstance;
  paths: HostPaths;
}> {
  const { paths, write } = fixture();
  const instance = create(type);
  const first = await instance.collect(context(paths));
  write(SNAPSHOT_2);
  const second = await instance.collect(context(paths));
  return { first, second, instance, paths };
}

describe('OS collectors on a fixture proc tree', () => {
  it('exports every documented collector type once', () => {
    expect(OS_COLLECTOR_TYPES.map((t) => t.type).sort()).toEqual(
      [
        'cpustats',
        'diskio',
        'diskusage',
        'kernelstats',
        'loadaverage',
        'memory',
        'networktraffic',
        'openports',
        'processes',
        'system',
        'uptime',
      ].sort(),
    );
    for (const type of OS_COLLECTOR_TYPES) expect(type.description.length).toBeGreaterThan(10);
  });

  it('cpustats: shares since boot, then exact shares of the interval (guest not counted twice)', async () => {
    const { first, second, instance: cpu, paths } = await acrossSnapshots('cpustats');
    expect(first.cpuall).toEqual({
      '%user': 10,
      '%nice': 0,
      '%system': 5,
      '%idle': 80,
      '%iowait': 2,
      '%irq': 1,
      '%softirq': 1,
      '%steal': 1,
    });
    expect(second.cpuall).toEqual({
      '%user': 15,
      '%nice': 0,
      '%system': 5,
      '%idle': 75,
      '%iowait': 2.5,
      '%irq': 1.25,
      '%softirq': 0.75,
      '%steal': 0.5,
    });
    expect(second.cpu0).toEqual({
      '%user': 20,
      '%nice': 0,
      '%system': 5,
      '%idle': 73,
      '%iowait': 1,
      '%irq': 0.5,
      '%softirq': 0.3,
      '%steal': 0.2,
    });
    expect(num(second, 'cpu1.%idle')).toBe(77);
    expect(num(second, 'cpu1.%iowait')).toBe(4);
    // No jiffy since: the same figures again, not zeros.
    expect(await cpu.collect(context(paths))).toEqual(second);
  });

  it('memory: bytes, used percents and every meminfo field', async () => {
    const { paths, write } = fixture();
    const data = await create('memory').collect(context(paths));
    expect(data).toMatchObject({
      phys_total: 1024000000,
      phys_free: 204800000,
      phys_available: 614400000,
      phys_used: 40,
      swap_total: 512000000,
      swap_free: 409600000,
      swap_used: 20,
    });
    expect(at(data, 'meminfo')).toEqual({
      MemTotal: 1024000000,
      MemFree: 204800000,
      MemAvailable: 614400000,
      Buffers: 10240000,
      Cached: 307200000,
      'Active(anon)': 1024000,
      SwapTotal: 512000000,
      SwapFree: 409600000,
      HugePages_Total: 4,
      Hugepagesize: 2097152,
    });
    // Before Linux 3.14 there is no MemAvailable (free + buffers + cached instead); no swap: 0% used.
    write({
      ...SNAPSHOT_1,
      meminfo:
        'MemTotal: 1000000 kB\nMemFree: 200000 kB\nBuffers: 10000 kB\nCached: 300000 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n',
    });
    const old = await create('memory').collect(context(paths));
    expect(old).toMatchObject({ phys_available: 522240000, phys_used: 49, swap_total: 0, swap_used: 0 });
  });

  it('loadaverage and uptime', async () => {
    const { paths } = fixture();
    expect(await create('loadaverage').collect(context(paths))).toEqual({
      load1: 0.5,
      load5: 0.25,
      load15: 0.1,
      runnable: 3,
      total_threads: 250,
    });
    expect(await create('uptime').collect(context(paths))).toEqual({
      seconds: 1000,
      idle_seconds: 1500,
      boot_time: 1700000000,
    });
  });

  it('kernelstats: rates since boot, then over the interval', async () => {
    const { first, second } = await acrossSnapshots('kernelstats');
    expect(first).toEqual({
      ctxt_s: 100,
      forks_s: 2,
      interrupts_s: 50,
      procs_running: 2,
      procs_blocked: 1,
    });
    expect(second).toEqual({
      ctxt_s: 5000,
      forks_s: 10,
      interrupts_s: 1000,
      procs_running: 5,
      procs_blocked: 0,
    });
  });

  it('diskio: whole disks only, rates since boot then over the interval, counter resets', async () => {
    const { first, second } = await acrossSnapshots('diskio');
    expect(Object.keys(first).sort()).toEqual(['dm-0', 'nvme0n1', 'sda']);
    expect(first.sda).toEqual({
      read_ops_s: 1,
      write_ops_s: 0.5,
      read_bytes_s: 10240,
      write_bytes_s: 5120,
      busy_pct: 0.3,
    });
    expect(second.sda).toEqual({
      read_ops_s: 20,
      write_ops_s: 10,
      read_bytes_s: 2097152,
      write_bytes_s: 1048576,
      busy_pct: 25,
    });
    expect(second['dm-0']).toEqual({
      read_ops_s: 3,
      write_ops_s: 0.5,
      read_bytes_s: 10240,
      write_bytes_s: 5120,
      busy_pct: 0.4,
    });
    expect(num(second, 'nvme0n1.read_ops_s')).toBe(0);
  });

  it('networktraffic: every interface, rates over the interval, a new interface since boot', async () => {
    const { first, second } = await acrossSnapshots('networktraffic');
    expect(first.eth0).toEqual({
      recv_bytes_s: 1000,
      recv_packets_s: 2,
      recv_errors_s: 0.01,
      recv_drop_s: 0.02,
      sent_bytes_s: 500,
      sent_packets_s: 1.5,
      sent_errors_s: 0.05,
      sent_drop_s: 0.06,
    });
    expect(num(first, 'lo.recv_bytes_s')).toBe(100);
    expect(second.eth0).toEqual({
      recv_bytes_s: 123456,
      recv_packets_s: 100,
      recv_errors_s: 0,
      recv_drop_s: 0.1,
      sent_bytes_s: 2560,
      sent_packets_s: 50,
      sent_errors_s: 0,
      sent_drop_s: 0,
    });
    expect(num(second, 'lo.recv_bytes_s')).toBe(0);
    // wg0 appeared between the runs: its counters over the whole uptime (1010 s).
    expect(num(second, 'wg0.recv_bytes_s')).toBe(4.95);
  });

  it('openports: LISTEN tcp and unconnected udp ports, v4 and v6, deduplicated and sorted', async () => {
    const { paths } = fixture();
    const listeners = Array.from({ length: 40 }, (_, i) => 20000 + i);
    expect(await create('openports').collect(context(paths))).toEqual({
      tcp: [22, 443, 3306, ...listeners],
      udp: [53],
    });
  });

  it('processes: counted per state as top does, threads summed', async () => {
    const { paths } = fixture();
    expect(await create('processes').collect(context(paths))).toEqual({
      total: 6,
      running: 1,
      sleeping: 3,
      disk_sleep: 1,
      zombie: 1,
      stopped: 1,
      threads: 10,
    });
  });

  it('diskusage: real filesystems only, keyed by host mount point, statfs under the root', async () => {
    const { paths } = fixture();
    const data = await create('diskusage').collect(context(paths));
    // proc, sysfs, cgroup2, overlay, squashfs and /dev/* skipped; /gone does not exist under the root.
    expect(Object.keys(data)).toEqual(['/', '/run', '/srv/my data']);
    const fs = statfsSync(paths.root);
    expect(data['/']).toMatchObject({
      device: '/dev/sda1',
      fstype: 'ext4',
      total: fs.blocks * fs.bsize,
      inodes_total: fs.files,
    });
    expect(at(data, '/run.fstype')).toBe('tmpfs');
    expect(at(data, '/srv/my data.device')).toBe('/dev/sdb1');
    const used = num(data, '/.used');
    const free = num(data, '/.free');
    expect(num(data, '/.pct_used')).toBeCloseTo((used / (used + free)) * 100, 1);
  });

  it('diskusage asks local filesystems synchronously and the others (nfs, fuse) through the thread pool, in table order', async () => {
    const local = create('diskusage').collect(context(fixture().paths));
    expect(local).not.toBeInstanceOf(Promise);
    const { paths } = fixture();
    mkdirSync(join(paths.root, 'mnt', 'share'), { recursive: true });
    writeFileSync(
      join(paths.proc, '1', 'mounts'),
      'server:/export /mnt/share nfs4 rw 0 0\n/dev/sda1 / ext4 rw 0 0\n',
    );
    const mixed = create('diskusage').collect(context(paths));
    expect(mixed).toBeInstanceOf(Promise);
    const data = await mixed;
    expect(Object.keys(data)).toEqual(['/mnt/share', '/']);
    const fs = statfsSync(join(paths.root, 'mnt', 'share'));
    expect(data['/mnt/share']).toMatchObject({ fstype: 'nfs4', total: fs.blocks * fs.bsize });
  });

  it('diskusage falls back to self/mounts when pid 1 has no readable mount table', async () => {
    const { paths } = fixture();
    mkdirSync(join(paths.proc, 'self'));
    writeFileSync(join(paths.proc, 'self', 'mounts'), '/dev/vdb / xfs rw 0 0\n');
    rmSync(join(paths.proc, '1', 'mounts'));
    const data = await create('diskusage').collect(context(paths));
    expect(Object.keys(data)).toEqual(['/']);
    expect(at(data, '/.fstype')).toBe('xfs');
  });

  it('system: identity from the host tree', async () => {
    const { paths } = fixture();
    const data = await create('system').collect(context(paths));
    expect(data).toMatchObject({
      hostname: 'web1',
      fqdn: 'web1.example.com',
      os: { name: 'linux', distribution: 'ubuntu', version: '22.04', pretty_name: 'Ubuntu 22.04.3 LTS' },
      kernel: '5.10.0-fixture',
      cpu_count: 2,
      cpu_model: 'Fixture CPU @ 2.00GHz',
      boot_time: 1700000000,
    });
    expect(typeof at(data, 'arch')).toBe('string');
    expect(typeof at(data, 'addresses')).toBe('object');
  });

  it('says clearly what is missing: notEligibleReason, and collect() failing with the path', async () => {
    const empty = tempDir('opsbro-proc-empty-');
    const paths: HostPaths = { root: empty, proc: join(empty, 'proc'), sys: join(empty, 'sys') };
    for (const type of OS_COLLECTOR_TYPES) {
      const instance = type.create(type.defaultSettings);
      expect(instance.notEligibleReason?.(paths), type.type).toMatch(/does not exist|no mount table/);
      // A synchronous collector throws, an asynchronous one rejects: the scheduler takes both.
      await expect(runOnce(instance, paths), type.type).rejects.toThrow(/cannot read .*: ENOENT/);
    }
    await expect(runOnce(create('cpustats'), paths)).rejects.toThrow(
      `cannot read ${join(empty, 'proc', 'stat')}: ENOENT`,
    );
    const { paths: fixturePaths } = fixture();
    for (const type of OS_COLLECTOR_TYPES)
      expect(type.create(type.defaultSettings).notEligibleReason?.(fixturePaths), type.type).toBeUndefined();
  });
});

describe('OS collector helpers', () => {
  it('readText: the collectors of one turn share a read of a file; the next turn reads it afresh', async () => {
    const file = join(tempDir('opsbro-turn-'), 'stat');
    writeFileSync(file, 'cpu 1\n');
    expect(readText(file)).toBe('cpu 1\n');
    writeFileSync(file, 'cpu 2\n');
    expect(readText(file)).toBe('cpu 1\n'); // same turn: the same snapshot
    await Promise.resolve();
    expect(readText(file)).toBe('cpu 2\n');
  });

  it('perSecond and RateTracker: since boot, interval, reset, same tick', () => {
    expect(perSecond(100, 150, 10)).toBe(5);
    expect(perSecond(100, 30, 10)).toBe(3); // reset: counted up from 0
    expect(perSecond(0, 5, 0)).toBe(0);
    const tracker = new RateTracker();
    expect(tracker.next(100, new Map([['a', [1000, 50]]])).get('a')).toEqual([10, 0.5]);
    expect(tracker.next(110, new Map([['a', [1500, 60]]])).get('a')).toEqual([50, 1]);
    // Same 10 ms uptime tick: the previous figures, and the base stays at 110.
    expect(tracker.next(110, new Map([['a', [1600, 60]]])).get('a')).toEqual([50, 1]);
    expect(tracker.next(120, new Map([['a', [2500, 70]]])).get('a')).toEqual([100, 1]);
  });

  it('cpuPercents: no jiffy passed is undefined, a counter stepping back counts 0', () => {
    expect(cpuPercents([1, 2, 3], [1, 2, 3])).toBeUndefined();
    expect(cpuPercents([10, 0, 0, 100], [20, 0, 0, 90])).toEqual([100, 0, 0, 0]);
  });

  it('parses meminfo, cpuinfo (x86 and ARM), /etc/hosts, disk names, mount tables', () => {
    expect(parseKeyValueLines('MemTotal:  10 kB\nHugePages_Free: 3\nbad line\nEmpty:\n')).toEqual({
      MemTotal: 10240,
      HugePages_Free: 3,
    });
    expect(
      parseCpuinfo('processor\t: 0\nBogoMIPS\t: 48.00\nCPU part\t: 0xd08\nModel\t: Raspberry Pi 4 Model B\n'),
    ).toEqual({ count: 1, model: 'Raspberry Pi 4 Model B' });
    expect(fqdnFromHosts('127.0.1.1\tdb2.lan.example db2\n', 'db2')).toBe('db2.lan.example');
    expect(fqdnFromHosts('127.0.0.1 localhost.localdomain localhost\n', 'db2')).toBeUndefined();
    expect(['sda', 'vda', 'xvdb', 'nvme0n1', 'dm-0', 'md0', 'sr0'].every(isReportedDevice)).toBe(true);
    expect(
      ['sda1', 'vda2', 'xvdb1', 'nvme0n1p2', 'mmcblk0p1', 'loop3', 'ram0', 'zram0'].some(isReportedDevice),
    ).toBe(false);
    // A virtual filesystem mounted over a real mount point hides it; the last mount is the visible one.
    expect(
      reportedMounts('/dev/a /mnt ext4 rw 0 0\ntmpfs /mnt tmpfs rw 0 0\n/dev/b /data xfs rw 0 0\n'),
    ).toEqual([
      { device: 'tmpfs', mountPoint: '/mnt', fstype: 'tmpfs' },
      { device: '/dev/b', mountPoint: '/data', fstype: 'xfs' },
    ]);
    expect(reportedMounts('/dev/a /mnt ext4 rw 0 0\nproc /mnt proc rw 0 0\n')).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------
// This machine.

const linux = process.platform === 'linux';

/** /proc/uptime: the clock the OS collectors' rates are computed against (10 ms ticks). */
function uptimeSeconds(): number {
  return Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
}

/** Until /proc/uptime has moved past `since`: a run from now on covers a non-empty interval. */
async function uptimePast(since: number): Promise<void> {
  await expect.poll(() => uptimeSeconds() > since, { timeout: 5000, interval: 5 }).toBe(true);
}

function busyFor(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // burn one core
  }
}

describe.runIf(linux)('OS collectors on this machine', () => {
  it('every collector is eligible and runs cheaply', async () => {
    for (const type of OS_COLLECTOR_TYPES) {
      const instance = type.create(type.defaultSettings);
      expect(instance.notEligibleReason?.(LIVE), type.type).toBeUndefined();
      await instance.collect(context(LIVE)); // warm-up (first run JITs)
      const start = performance.now();
      const data = await instance.collect(context(LIVE));
      const ms = performance.now() - start;
      expect(Object.keys(data).length, type.type).toBeGreaterThan(0);
      // Generous: the bench measures the real cost (well under 10 ms each); this catches a runaway.
      expect(ms, type.type).toBeLessThan(200);
    }
  });

  it('cpustats: every CPU, shares in range summing to 100; load between runs shows', async () => {
    const cpu = create('cpustats');
    const first = await cpu.collect(context(LIVE));
    expect(Object.keys(first).sort()).toEqual(['cpuall', ...cpus().map((_, i) => `cpu${i}`)].sort());
    for (const [name, states] of Object.entries(first)) {
      const values = Object.values(states as Record<string, number>);
      expect(values, name).toHaveLength(8);
      for (const v of values) expect(v).toBeGreaterThanOrEqual(0);
      expect(
        values.reduce((a, b) => a + b, 0),
        name,
      ).toBeCloseTo(100, 0);
    }
    // This process burns a core meanwhile: the machine's busy time over the interval is at least
    // the CPU time this process used, however many cores share it (and whatever else runs).
    const startedMs = performance.now();
    const ownBefore = process.cpuUsage();
    busyFor(600);
    const second = await cpu.collect(context(LIVE));
    const own = process.cpuUsage(ownBefore);
    const ownCpuSeconds = (own.user + own.system) / 1e6;
    const intervalSeconds = (performance.now() - startedMs) / 1000;
    const busyShare = 100 - num(second, 'cpuall.%idle') - num(second, 'cpuall.%iowait');
    const busyCoreSeconds = (busyShare / 100) * cpus().length * intervalSeconds;
    expect(ownCpuSeconds).toBeGreaterThan(0.1);
    // Up to a clock tick (10 ms) of the kernel's accounting on each side, and the run's own rounding.
    expect(busyCoreSeconds).toBeGreaterThan(ownCpuSeconds * 0.9 - 0.02);
    const sum = Object.values(second.cpuall as Record<string, number>).reduce((a, b) => a + b, 0);
    expect(sum).toBeCloseTo(100, 0);
  });

  it('memory: totals match the OS, percents in range', async () => {
    const data = await create('memory').collect(context(LIVE));
    expect(num(data, 'phys_total')).toBe(totalmem());
    expect(num(data, 'phys_available')).toBeLessThanOrEqual(num(data, 'phys_total'));
    for (const key of ['phys_used', 'swap_used']) {
      expect(num(data, key)).toBeGreaterThanOrEqual(0);
      expect(num(data, key)).toBeLessThanOrEqual(100);
    }
    expect(num(data, 'meminfo.MemTotal')).toBe(totalmem());
  });

  it('loadaverage, uptime and system agree with node:os', async () => {
    const load = await create('loadaverage').collect(context(LIVE));
    expect(num(load, 'runnable')).toBeGreaterThanOrEqual(1); // this thread, reading it
    expect(num(load, 'total_threads')).toBeGreaterThanOrEqual(num(load, 'runnable'));
    const up = await create('uptime').collect(context(LIVE));
    expect(Math.abs(num(up, 'seconds') - osUptime())).toBeLessThan(2);
    expect(Math.abs(num(up, 'boot_time') - (Date.now() / 1000 - num(up, 'seconds')))).toBeLessThan(3);
    const sys = await create('system').collect(context(LIVE));
    expect(sys).toMatchObject({
      hostname: hostname(),
      kernel: release(),
      arch: machine(),
      cpu_count: cpus().length,
      os: { name: 'linux' },
    });
    expect(String(at(sys, 'fqdn')).startsWith(hostname())).toBe(true);
    expect(at(sys, 'addresses.lo')).toContain('127.0.0.1');
  });

  it('networktraffic and kernelstats: interval rates see the traffic and forks made between runs', async () => {
    const net = create('networktraffic');
    const kernel = create('kernelstats');
    await net.collect(context(LIVE));
    await kernel.collect(context(LIVE));
    const uptimeAtFirst = uptimeSeconds();
    const start = performance.now();
    // 4 MiB over loopback, and 5 forks.
    const payload = Buffer.alloc(4 * 1024 * 1024, 1);
    const server = createServer((socket) => socket.resume());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve, reject) => {
      const client = connect(port, '127.0.0.1', () => client.end(payload));
      client.on('close', () => resolve());
      client.on('error', reject);
    });
    await new Promise((resolve) => server.close(resolve));
    for (let i = 0; i < 5; i++) spawnSync('true');
    await uptimePast(uptimeAtFirst);
    const net2 = await net.collect(context(LIVE));
    const kernel2 = await kernel.collect(context(LIVE));
    const elapsedS = (performance.now() - start) / 1000 + 0.05;
    expect(num(net2, 'lo.recv_bytes_s')).toBeGreaterThan(payload.length / elapsedS);
    expect(num(kernel2, 'forks_s')).toBeGreaterThanOrEqual(5 / elapsedS);
    for (const iface of Object.values(net2))
      for (const rate of Object.values(iface as Record<string, number>))
        expect(rate).toBeGreaterThanOrEqual(0);
    for (const key of ['ctxt_s', 'forks_s', 'interrupts_s', 'procs_running', 'procs_blocked'])
      expect(num(kernel2, key)).toBeGreaterThanOrEqual(0);
  });

  it('diskio and diskusage: whole disks and real filesystems, values in range', async () => {
    const io = create('diskio');
    await io.collect(context(LIVE));
    await uptimePast(uptimeSeconds());
    const disks = await io.collect(context(LIVE));
    // Every whole disk the kernel lists (/sys/block: no partition there), but loop, ram and floppy
    // devices. The loop below checks each of them: it runs once per disk of this machine.
    const listed = new Set(
      readFileSync('/proc/diskstats', 'utf8')
        .split('\n')
        .map((line) => line.trim().split(/\s+/)[2]),
    );
    const wholeDisks = readdirSync('/sys/block').filter(
      (name) => listed.has(name) && !/^(?:z?ram|loop|fd)\d+$/.test(name),
    );
    expect(Object.keys(disks).sort()).toEqual(wholeDisks.sort());
    for (const [name, values] of Object.entries(disks)) {
      expect(isReportedDevice(name), name).toBe(true);
      const v = values as Record<string, number>;
      expect(Object.keys(v).sort()).toEqual([
        'busy_pct',
        'read_bytes_s',
        'read_ops_s',
        'write_bytes_s',
        'write_ops_s',
      ]);
      for (const rate of Object.values(v)) expect(rate).toBeGreaterThanOrEqual(0);
      expect(v.busy_pct).toBeLessThanOrEqual(100);
    }
    const usage = await create('diskusage').collect(context(LIVE));
    // A Linux machine has a filesystem on a disk somewhere (in a container: the host's, bind-mounted
    // for /etc/hosts and the like): the loop below has something to check.
    expect(Object.keys(usage).length).toBeGreaterThan(0);
    for (const [point, values] of Object.entries(usage)) {
      const v = values as Record<string, number>;
      expect(v.used! + v.free!, point).toBeLessThanOrEqual(v.total!);
      expect(v.pct_used).toBeGreaterThanOrEqual(0);
      expect(v.pct_used).toBeLessThanOrEqual(100);
      expect(v.inodes_pct_used).toBeLessThanOrEqual(100);
    }
    // The root filesystem is reported when it is a real one (in a container it is an overlay: skipped).
    const rootMount = readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .filter((line) => line.split(' ')[1] === '/')
      .at(-1);
    if (rootMount && ['ext4', 'xfs', 'btrfs', 'ext3', 'zfs'].includes(rootMount.split(' ')[2]!))
      expect(usage['/']).toBeDefined();
  });

  it('openports: sees a TCP listener and a bound UDP socket of this test', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const udp = createSocket('udp4');
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
    try {
      const data = await create('openports').collect(context(LIVE));
      const tcp = at(data, 'tcp') as number[];
      const udpPorts = at(data, 'udp') as number[];
      expect(tcp).toContain((server.address() as AddressInfo).port);
      expect(udpPorts).toContain(udp.address().port);
      for (const list of [tcp, udpPorts]) expect(list).toEqual([...new Set(list)].sort((a, b) => a - b));
    } finally {
      udp.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('processes: states add up to the total, about as many as /proc lists', async () => {
    const data = await create('processes').collect(context(LIVE));
    const total = num(data, 'total');
    expect(num(data, 'running') + num(data, 'sleeping') + num(data, 'zombie') + num(data, 'stopped')).toBe(
      total,
    );
    expect(num(data, 'running')).toBeGreaterThanOrEqual(1);
    expect(num(data, 'threads')).toBeGreaterThanOrEqual(total);
    const listed = readdirSync('/proc').filter((name) => /^\d+$/.test(name)).length;
    expect(Math.abs(total - listed)).toBeLessThan(10);
  });
});
