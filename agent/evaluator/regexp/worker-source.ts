// The code a regexp worker thread runs: plain JavaScript evaluated by the Worker (no TypeScript, no
// imports from this package). It answers one job at a time, {pattern, text, whole} -> {matched} or
// {error}, and stays for the next; the pool terminates it when a job runs past its deadline.
// `whole`: the pattern searched in the whole text, case-sensitive (an http check's search_regex);
// otherwise any line, case-insensitive (grep_file).
export const REGEXP_WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
parentPort.on('message', ({ pattern, text, whole }) => {
  try {
    const expression = new RegExp(pattern, whole ? '' : 'i');
    const matched = whole ? expression.test(text) : text.split('\\n').some((line) => expression.test(line));
    parentPort.postMessage({ matched });
  } catch (error) {
    parentPort.postMessage({ error: String((error && error.message) || error) });
  }
});
`;
