// Human output: colour on a TTY (NO_COLOR honoured), aligned tables, a spinner while waiting.

const isTty = (stream: NodeJS.WriteStream) => Boolean(stream.isTTY) && process.env.TERM !== 'dumb';

function colourEnabled(stream: NodeJS.WriteStream): boolean {
  if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '') return false;
  if (process.env.FORCE_COLOR !== undefined && process.env.FORCE_COLOR !== '0') return true;
  return isTty(stream);
}

const paint = (code: number) => (text: string) =>
  colourEnabled(process.stdout) ? `\x1b[${code}m${text}\x1b[0m` : text;

export const colour = {
  red: paint(31),
  green: paint(32),
  yellow: paint(33),
  bold: paint(1),
  dim: paint(2),
};

/** Colours a state word the way operators read it: green good, yellow pending, red bad. */
export function stateColour(state: string): string {
  const word = state.toLowerCase();
  if (['ok', 'alive', 'enabled', 'true'].includes(word)) return colour.green(state);
  if (['initializing', 'pending', 'warning', 'suspect', 'stopping'].includes(word))
    return colour.yellow(state);
  if (['not-eligible', 'false', 'left'].includes(word)) return colour.dim(state);
  return colour.red(state);
}

// eslint-disable-next-line no-control-regex -- matching terminal escape codes is the point
const ANSI = /\x1b\[[0-9;]*m/g;
const visibleLength = (text: string) => text.replace(ANSI, '').length;
const pad = (text: string, width: number) => text + ' '.repeat(Math.max(0, width - visibleLength(text)));

/** An aligned table with a bold header row. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((header, column) =>
    Math.max(visibleLength(header), ...rows.map((row) => visibleLength(row[column] ?? ''))),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : pad(cell, widths[column]!)))
      .join('  ')
      .trimEnd();
  return [colour.bold(line(headers)), ...rows.map(line)].join('\n') + '\n';
}

/** Aligned "key  value" lines. */
export function keyValues(pairs: Array<[string, string]>): string {
  const width = Math.max(...pairs.map(([key]) => key.length));
  // A value of several lines keeps its later lines under the first one.
  const indent = '\n' + ' '.repeat(width + 2);
  return (
    pairs
      .map(([key, value]) => `${colour.bold(key.padEnd(width))}  ${value.split('\n').join(indent)}`)
      .join('\n') + '\n'
  );
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/** One JSON value on one line: for a stream of JSON lines (`agent start --json`). */
export function printJsonLine(value: unknown): void {
  process.stdout.write(JSON.stringify(value) + '\n');
}

export interface Spinner {
  stop(finalLine?: string): void;
}

/** A spinner on stderr while something is awaited; silent when stderr is not a terminal, or not `shown`. */
export function spinner(text: string, shown = true): Spinner {
  if (!shown || !isTty(process.stderr)) return { stop: () => undefined };
  const frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
  let index = 0;
  const draw = () => process.stderr.write(`\r${frames[index++ % frames.length]} ${text}`);
  draw();
  const timer = setInterval(draw, 80);
  return {
    stop(finalLine) {
      clearInterval(timer);
      process.stderr.write('\r\x1b[K' + (finalLine ? `${finalLine}\n` : ''));
    },
  };
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

export function formatDuration(seconds: number): string {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = Math.floor(seconds % 60);
  return [d && `${d}d`, h && `${h}h`, m && `${m}m`, `${s}s`].filter(Boolean).join(' ');
}

/** How long ago `iso` was, for a table: `4s ago`, `3m 5s ago`, `2h 10m ago`; `-` when unknown. */
export function timeAgo(iso: string | undefined, now = Date.now()): string {
  const at = iso ? Date.parse(iso) : NaN;
  if (Number.isNaN(at)) return '-';
  const seconds = Math.max(0, Math.round((now - at) / 1000));
  // The two largest units are enough to read at a glance.
  return `${formatDuration(seconds).split(' ').slice(0, 2).join(' ')} ago`;
}

/** A duration in milliseconds as people read it: `0.25 ms`, `13 ms`, `1.2 s`. */
export function formatMs(ms: number | undefined): string {
  if (ms === undefined) return '-';
  if (ms < 1000) return `${Number(ms.toPrecision(3))} ms`;
  return `${Number((ms / 1000).toPrecision(3))} s`;
}
