// A log file that rotates by size: opsbro.log -> opsbro.log.1 -> ... -> opsbro.log.N (dropped).
// Used when the agent runs as a daemon and has no terminal to write to.
import { closeSync, fstatSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
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

  write(line: string): void {
    const bytes = Buffer.byteLength(line);
    if (this.sizeBytes > 0 && this.sizeBytes + bytes > this.maxSizeBytes) this.rotate();
    try {
      writeSync(this.fd, line);
      this.sizeBytes += bytes;
    } catch {
      // Disk full or file gone: keep running; the next rotation reopens the file.
    }
  }

  close(): void {
    closeSync(this.fd);
  }

  private rotate(): void {
    closeSync(this.fd);
    rmSync(`${this.path}.${this.keepFiles}`, { force: true });
    for (let index = this.keepFiles - 1; index >= 1; index--) {
      try {
        renameSync(`${this.path}.${index}`, `${this.path}.${index + 1}`);
      } catch {
        // That generation does not exist yet.
      }
    }
    if (this.keepFiles > 0) renameSync(this.path, `${this.path}.1`);
    else rmSync(this.path, { force: true });
    this.fd = openSync(this.path, 'a', 0o600);
    this.sizeBytes = 0;
  }
}
