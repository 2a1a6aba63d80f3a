// Plugins started by the agent's own process (Node's spawn): what runs when the plugin launcher is
// off or not built. It forks the agent, whose cost grows with its memory (docs/checks-script.md).
import { spawn, type ChildProcess } from 'node:child_process';
import { messageOf } from '../../shared/errors.js';
import {
  OutputCap,
  PLUGIN_ENVIRONMENT,
  type OutputLimits,
  type PluginRun,
  type PluginSink,
  type PluginSpawner,
} from './plugin-process.js';

export const IN_AGENT_SPAWNER: PluginSpawner = { spawn: spawnInAgent };

function spawnInAgent(argv: readonly string[], limits: OutputLimits, sink: PluginSink): PluginRun {
  const [program = '', ...args] = argv;
  let child: ChildProcess;
  try {
    child = spawn(program, args, {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: PLUGIN_ENVIRONMENT,
      cwd: '/',
    });
  } catch (error) {
    sink.failed(messageOf(error));
    return { abandonOutput: () => {} };
  }
  const stdout = new OutputCap(limits.stdoutBytes);
  const stderr = new OutputCap(limits.stderrBytes);
  child.stdout!.on('data', (chunk: Buffer) => stdout.add(chunk));
  child.stderr!.on('data', (chunk: Buffer) => stderr.add(chunk));
  // A failure to start (ENOENT, EACCES) comes as an error with no pid; later errors (a failed
  // kill) change nothing: the close event still reports the end.
  if (child.pid !== undefined) sink.started(child.pid);
  child.on('error', (error: NodeJS.ErrnoException) => {
    if (child.pid === undefined) sink.failed(describeSpawnError(error.code, error.message));
  });
  child.on('exit', (code, signal) => sink.exited(code, signal));
  child.on('close', () => sink.closed(stdout.text(), stderr.text()));
  return {
    abandonOutput: () => {
      child.stdout?.destroy();
      child.stderr?.destroy();
    },
  };
}

/** How a failure to start reads, by its errno name. */
export function describeSpawnError(code: string | undefined, message: string): string {
  if (code === 'ENOENT') return 'not found';
  if (code === 'EACCES') return 'permission denied';
  return code ? `${code}: ${message}` : message;
}
