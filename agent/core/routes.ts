// The /agent/* endpoints: what this agent is and how it is doing, reload and stop.
import { type Route, HttpError } from '../shared/http.js';
import { ConfigErrors } from '../config/index.js';
import type { AgentInfo, ReloadOutcome } from '../shared/api-types.js';

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
          return agent.reload();
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
