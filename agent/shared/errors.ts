// What every subsystem needs to say about something thrown.

/** The message of anything thrown (an Error's message, else its name; anything else as a string). */
export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}
