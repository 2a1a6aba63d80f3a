// The code a regexp worker thread runs: plain JavaScript evaluated by the Worker (no TypeScript, no
// imports from this package). It answers one job at a time, {pattern, text} -> {matched} or
// {error}, and stays for the next; the pool terminates it when a job runs past its deadline.
export const REGEXP_WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
parentPort.on('message', ({ pattern, text }) => {
  try {
    const expression = new RegExp(pattern, 'i');
    parentPort.postMessage({ matched: text.split('\\n').some((line) => expression.test(line)) });
  } catch (error) {
    parentPort.postMessage({ error: String((error && error.message) || error) });
  }
});
`;
