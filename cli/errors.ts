// CLI exit codes: 0 ok, 1 error (the operation failed), 2 usage (the command line was wrong).
export const EXIT_OK = 0;
export const EXIT_ERROR = 1;
export const EXIT_USAGE = 2;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_ERROR,
  ) {
    super(message);
  }
}
