// Runs an operator's regular expression over a file's lines in a worker thread with a deadline.
// JavaScript regexps can backtrack for ages on some inputs (ReDoS: `(a+)+$` against a long line
// of a's); on the main thread that would freeze the agent, gossip included. The worker is
// terminated when the deadline passes.
import { Worker } from 'node:worker_threads';
import { ExpressionError } from '../errors.js';

// Plain JavaScript, evaluated by the worker (no TypeScript, no imports from this package).
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const expression = new RegExp(workerData.pattern, 'i');
parentPort.postMessage(workerData.text.split('\\n').some((line) => expression.test(line)));
`;

/** Whether any line of `text` matches `pattern` (case-insensitive); rejects after `timeoutMs`. */
export function anyLineMatches(
  pattern: string,
  text: string,
  timeoutMs: number,
  label: string,
): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { pattern, text },
      resourceLimits: { maxOldGenerationSizeMb: 256 },
    });
    const timer = setTimeout(() => {
      reject(
        new ExpressionError(`${label}: the regular expression ran longer than ${timeoutMs} ms; simplify it`),
      );
      void worker.terminate();
    }, timeoutMs);
    const finish = (): void => {
      clearTimeout(timer);
      void worker.terminate();
    };
    worker.once('message', (matched: unknown) => {
      finish();
      resolve(matched === true);
    });
    worker.once('error', (error: Error) => {
      finish();
      reject(new ExpressionError(`${label}: ${error.message}`));
    });
    worker.once('exit', () => {
      clearTimeout(timer);
      reject(new ExpressionError(`${label}: the regular expression worker stopped without an answer`));
    });
  });
}
