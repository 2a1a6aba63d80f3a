// The /agent/* endpoints: what this agent is and how it is doing, reload and stop.
import { type Route, HttpError } from './api/index.js';
import { ConfigErrors } from './config/index.js';
import type { ClusterView } from './gossip/subsystem.js';
import type { SubsystemState } from './subsystem.js';

export interface AgentInfo {
  name: string;
  id: string;
  version: string;
  datacenter: string;
  groups: string[];
  addresses: Array<{ interface: string; address: string; family: 'IPv4' | 'IPv6' }>;
  ports: Record<string, number>;
  api: {
    tcp: string;
    socket?: string;
    /** Whether every TCP request needs a token (auth.tokens configured). */
    auth: boolean;
    /** The local admin token's file: readable by the agent's user only. */
    local_token: string;
  };
  encryption: { enabled: boolean; warning?: string };
  /** Where gossip and RPC listen and what they advertise; warnings when loopback-only or unencrypted. */
  cluster: ClusterView;
  pid: number;
  node_version: string;
  started_at: string;
  uptime_seconds: number;
  memory: { rss_bytes: number; heap_used_bytes: number; heap_total_bytes: number };
  state: AgentStatus;
  subsystems: Record<string, SubsystemState>;
  config: { dir: string; files: string[]; definitions: number; warnings: string[] };
  data_dir: string;
}

export type AgentStatus = 'initializing' | 'ok' | 'degraded' | 'stopping';

export interface ReloadOutcome {
  warnings: string[];
  /** Settings that changed but only take effect after a restart. */
  restart_required: string[];
}

/** What the routes need from the agent; main implements it. */
export interface AgentControl {
  info(): AgentInfo;
  reload(): ReloadOutcome;
  requestStop(reason: string): void;
}

export function agentRoutes(agent: AgentControl): Route[] {
  return [
    {
      method: 'GET',
      path: '/agent/info',
      access: 'read',
      description: 'identity, addresses, ports, groups, state of each subsystem',
      handler: () => agent.info(),
    },
    {
      method: 'GET',
      path: '/agent/state',
      access: 'read',
      description: 'overall state (initializing, ok, degraded, stopping) and each subsystem',
      handler: () => {
        const { state, subsystems } = agent.info();
        return { state, subsystems };
      },
    },
    {
      method: 'POST',
      path: '/agent/reload',
      access: 'admin',
      description: 're-read agent.yml, conf.d and definitions; a bad config keeps the old one running',
      handler: () => {
        try {
          return { reloaded: true, ...agent.reload() };
        } catch (error) {
          if (error instanceof ConfigErrors) {
            throw new HttpError(422, `reload refused, the running configuration is kept: ${error.message}`);
          }
          throw error;
        }
      },
    },
    {
      method: 'POST',
      path: '/agent/stop',
      access: 'admin',
      description: 'stop the agent gracefully',
      handler: ({ principal }) => {
        // Answer first, then stop: the caller gets its reply before the API closes.
        setImmediate(() => agent.requestStop(`requested over the API by ${principal.name}`));
        return { stopping: true, pid: process.pid };
      },
    },
  ];
}
