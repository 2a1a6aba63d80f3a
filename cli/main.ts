// The `opsbro` command: parses argv, talks to the local agent's HTTP API, prints (cli/program.ts).
import { EXIT_ERROR, EXIT_OK } from './errors.js';
import { run } from './program.js';

// A reader that went away (`opsbro collectors show | head -1`) wanted no more: stop quietly, as a
// command killed by SIGPIPE would, but with exit 0 and no stack trace. Any other write error on
// our own output cannot be reported anywhere: exit 1.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) =>
    process.exit(error.code === 'EPIPE' ? EXIT_OK : EXIT_ERROR),
  );
}

const code = await run(process.argv);
// `agent start` keeps the process alive itself; everything else ends here.
process.exitCode = code;
