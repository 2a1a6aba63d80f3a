// CLI exit codes: 0 ok, 1 error (the operation failed), 2 usage (the command line was wrong).
export const EXIT_OK = 0;
export const EXIT_ERROR = 1;
export const EXIT_USAGE = 2;

/** An error for the operator: printed as `opsbro: <message>`, or as JSON under --json. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_ERROR,
    /** More to say under --json: the fields of the agent's error answer (token_required, data_dir...). */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** Nothing answered at the agent's address: `code` says why (ECONNREFUSED, ENOENT, ETIMEDOUT...). */
export class AgentUnreachable extends CliError {
  constructor(
    message: string,
    readonly code: string,
    readonly target: string,
  ) {
    super(message, EXIT_ERROR, { code });
  }
}
