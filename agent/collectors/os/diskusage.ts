// diskusage: space and inodes of each mounted real filesystem, keyed by mount point as the host sees it
// ("/", "/var/lib"), from the mount table (<proc>/1/mounts: the host's, seen from a container with the
// host's /proc; <proc>/self/mounts when pid 1's is not readable) and statfs() of <root>/<mount point>.
//
// Which mounts count, after node_exporter's defaults:
// - skipped filesystem types: the virtual ones (proc, sysfs, cgroup, devpts, devtmpfs, debugfs, tracefs,
//   securityfs, bpf, ...), overlay (a container's root: the host disk under it is reported itself) and
//   squashfs/iso9660 (read-only images, always full). tmpfs is kept: a full /run or /tmp breaks things.
// - skipped mount points: /dev, /proc, /sys and below, /run/credentials/*, and container storage under
//   /var/lib/docker/ and /var/lib/containers/storage/.
// - filesystems of size 0 (pseudo filesystems of other types) are skipped, as df does.
// statfs() of a dead network mount can hang: each call has a timeout (half the run's) and a mount whose
// call is still pending from an earlier run is skipped until it answers, so a run never hangs. That
// call goes through libuv's thread pool; a local filesystem (LOCAL_FS_TYPES) answers statfs from
// its in-memory superblock without any I/O, so it is asked synchronously: no thread hand-off, timer
// nor promise per mount, and a host with local disks only collects synchronously.
import { type StatsFs, statfsSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type {
  CollectContext,
  CollectedData,
  CollectedValue,
  CollectorInstance,
  CollectorType,
  HostPaths,
} from '../collector.js';
import { errorCode, procPath, readOptionalText, readText, round } from './proc-files.js';
import { messageOf } from '../../shared/errors.js';

const SKIPPED_FS_TYPES = new Set([
  'autofs',
  'binfmt_misc',
  'bpf',
  'cgroup',
  'cgroup2',
  'configfs',
  'debugfs',
  'devpts',
  'devtmpfs',
  'efivarfs',
  'fusectl',
  'fuse.lxcfs',
  'hugetlbfs',
  'iso9660',
  'mqueue',
  'nsfs',
  'overlay',
  'proc',
  'procfs',
  'pstore',
  'ramfs',
  'rpc_pipefs',
  'securityfs',
  'selinuxfs',
  'squashfs',
  'sysfs',
  'tracefs',
]);
/**
 * Filesystems whose statfs() answers from in-memory counters, without waiting on a device or the
 * network. btrfs, zfs and bcachefs stay on the thread pool: their statfs takes locks that long
 * maintenance (balance, scrub, a transaction sync) can hold.
 */
const LOCAL_FS_TYPES = new Set([
  'exfat',
  'ext2',
  'ext3',
  'ext4',
  'f2fs',
  'hfsplus',
  'jfs',
  'msdos',
  'nilfs2',
  'ntfs',
  'ntfs3',
  'reiserfs',
  'tmpfs',
  'vfat',
  'xfs',
]);
/** statfs() errors that mean the mount went away or is not ours to see: not a failure of the run. */
const VANISHED = new Set(['ENOENT', 'EACCES', 'EPERM', 'ENOTDIR', 'ESTALE', 'EIO']);
const SKIPPED_MOUNT_POINTS =
  /^\/(?:dev|proc|sys|run\/credentials\/.+|var\/lib\/docker\/.+|var\/lib\/containers\/storage\/.+)(?:$|\/)/;

export interface Mount {
  device: string;
  mountPoint: string;
  fstype: string;
}

/** Undoes the octal escapes of the mount table (\040 space, \011 tab, \012 newline, \134 backslash). */
function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** The mounts diskusage reports, from a mount table; a mount point mounted twice keeps the last (visible) one. */
export function reportedMounts(table: string): Mount[] {
  const byPoint = new Map<string, Mount>();
  for (const line of table.split('\n')) {
    const [device, point, fstype] = line.split(' ');
    if (!device || !point || !fstype) continue;
    const mountPoint = unescapeMountField(point);
    if (SKIPPED_FS_TYPES.has(fstype) || SKIPPED_MOUNT_POINTS.test(mountPoint)) {
      byPoint.delete(mountPoint); // a virtual filesystem mounted over a real one hides it
      continue;
    }
    byPoint.delete(mountPoint); // re-insert: keep the mount table's order
    byPoint.set(mountPoint, { device: unescapeMountField(device), mountPoint, fstype });
  }
  return [...byPoint.values()];
}

/** The host's mount table: pid 1's (the host's namespace) when readable, else this process's. */
function readMountTable(paths: HostPaths): string {
  try {
    const init = readOptionalText(procPath(paths, '1/mounts'));
    if (init) return init;
  } catch {
    // EACCES (not root, hardened /proc): fall back to our own namespace's view.
  }
  return readText(procPath(paths, 'self/mounts'));
}

class DiskUsage implements CollectorInstance {
  /** Mount points whose statfs() has not answered yet (hung network filesystem): skipped until it does. */
  private readonly pending = new Set<string>();

  notEligibleReason(paths: HostPaths): string | undefined {
    try {
      readMountTable(paths);
      return undefined;
    } catch (err) {
      return `no mount table: ${messageOf(err)}`;
    }
  }

  collect({ paths, timeoutMs }: CollectContext): CollectedData | Promise<CollectedData> {
    const mounts = reportedMounts(readMountTable(paths)).filter((m) => !this.pending.has(m.mountPoint));
    const statfsTimeoutMs = Math.max(100, Math.floor(timeoutMs / 2));
    const usages = mounts.map((mount) =>
      LOCAL_FS_TYPES.has(mount.fstype)
        ? usageNow(paths, mount)
        : this.usageSoon(paths, mount, statfsTimeoutMs),
    );
    const byMount = (answers: Array<MountUsage | undefined>): CollectedData => {
      const out: CollectedData = {};
      mounts.forEach((mount, i) => {
        const usage = answers[i];
        if (usage) out[mount.mountPoint] = usage;
      });
      return out;
    };
    return usages.some((usage) => usage instanceof Promise)
      ? Promise.all(usages.map((usage) => Promise.resolve(usage))).then(byMount)
      : byMount(usages as Array<MountUsage | undefined>);
  }

  /** statfs() through the thread pool, for a filesystem that may hang (network, FUSE): undefined past the timeout. */
  private async usageSoon(
    paths: HostPaths,
    mount: Mount,
    timeoutMs: number,
  ): Promise<MountUsage | undefined> {
    const path = join(paths.root, mount.mountPoint);
    this.pending.add(mount.mountPoint);
    const call = statfs(path).finally(() => this.pending.delete(mount.mountPoint));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    try {
      const answer = await Promise.race([call, timeout]);
      return answer === 'timeout' ? undefined : figures(mount, answer);
    } catch (err) {
      return statfsFailed(path, err);
    } finally {
      clearTimeout(timer);
    }
  }
}

type MountUsage = { [key: string]: CollectedValue };

/** statfs() of a local filesystem, synchronously. */
function usageNow(paths: HostPaths, mount: Mount): MountUsage | undefined {
  const path = join(paths.root, mount.mountPoint);
  try {
    return figures(mount, statfsSync(path));
  } catch (err) {
    return statfsFailed(path, err);
  }
}

/** A mount that went away or is not ours to see is left out (undefined); any other failure fails the run. */
function statfsFailed(path: string, err: unknown): undefined {
  if (VANISHED.has(errorCode(err))) return undefined;
  throw new Error(`cannot statfs ${path}: ${errorCode(err)}`, { cause: err });
}

/** One mount's figures, or undefined when it has size 0 (a pseudo filesystem, as df skips it). */
function figures(mount: Mount, stats: StatsFs): MountUsage | undefined {
  if (!(stats.blocks > 0)) return undefined;
  const total = stats.blocks * stats.bsize;
  const used = (stats.blocks - stats.bfree) * stats.bsize;
  const free = stats.bavail * stats.bsize;
  const inodesUsed = stats.files - stats.ffree;
  return {
    device: mount.device,
    fstype: mount.fstype,
    total,
    used,
    free,
    // As df: used out of what non-root users can have (the root-reserved blocks excluded).
    pct_used: used + free > 0 ? round((used / (used + free)) * 100) : 0,
    inodes_total: stats.files,
    inodes_used: inodesUsed,
    inodes_pct_used: stats.files > 0 ? round((inodesUsed / stats.files) * 100) : 0,
  };
}

export const diskusage: CollectorType = {
  type: 'diskusage',
  description: 'Per mount point of real filesystems: size, used, free (bytes), percent used, inodes',
  defaultSettings: {},
  create: () => new DiskUsage(),
};
