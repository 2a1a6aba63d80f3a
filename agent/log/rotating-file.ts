// A log file that rotates by size: opsbro.log -> opsbro.log.1 -> ... -> opsbro.log.N (dropped).
// Used when the agent runs as a daemon and has no terminal to write to.
import {
  closeSync,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';

export class RotatingFile {
  private fd: number;
  private sizeBytes: number;

  constructor(
    readonly path: string,
    private readonly maxSizeBytes: number,
    private readonly keepFiles: number,
  ) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    this.fd = openSync(path, 'a', 0o600);
    this.sizeBytes = fstatSync(this.fd).size;
  }

  /** Appends `text` (whole lines), rotating first when it would pass the size limit. */
  write(text: string | Buffer): void {
    const data = typeof text === 'string' ? Buffer.from(text) : text;
    const bytes = data.length;
    try {
      if (this.sizeBytes > 0 && this.sizeBytes + bytes > this.maxSizeBytes) this.rotate();
      writeSync(this.fd, data);
      this.sizeBytes += bytes;
    } catch {
      // Disk full, file or directory gone: keep running, and make the next write reopen the file.
      this.sizeBytes = this.maxSizeBytes;
    }
  }

  close(): void {
    closeSync(this.fd);
  }

  /** A failed rename (the log was removed or moved) still ends with a fresh file. */
  private rotate(): void {
    try {
      closeSync(this.fd);
    } catch {
      // Already closed by a failed reopen.
    }
    try {
      rmSync(`${this.path}.${this.keepFiles}`, { force: true });
      for (let index = this.keepFiles - 1; index >= 1; index--) {
        if (existsSync(`${this.path}.${index}`))
          renameSync(`${this.path}.${index}`, `${this.path}.${index + 1}`);
      }
      if (this.keepFiles > 0) renameSync(this.path, `${this.path}.1`);
      else rmSync(this.path, { force: true });
    } catch {
      // Someone removed or moved the log: start a fresh one below all the same.
    }
    this.fd = openSync(this.path, 'a', 0o600);
    this.sizeBytes = fstatSync(this.fd).size;
  }
}
