// Telling "the file is not there or not readable" (an operating-system error, which file functions
// answer as missing) from everything else (the I/O gate giving up, a bug), which must not be
// mistaken for a missing file: a protection check that could not run must refuse, not allow.

/** An error from the operating system: ENOENT, EACCES, ENXIO, ELOOP, ... */
export function isFsError(error: unknown): boolean {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).code === 'string';
}

/** `call`'s result, or undefined when it fails with an operating-system error. */
export async function orMissing<T>(call: Promise<T>): Promise<T | undefined> {
  try {
    return await call;
  } catch (error) {
    if (isFsError(error)) return undefined;
    throw error;
  }
}
