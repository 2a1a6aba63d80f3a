// Giving up on a promise when a run's signal aborts (a timeout, the agent stopping): what the
// collectors and the service checks do with drivers that take no signal of their own.

/** Why a signal was aborted, as a short phrase ("timed out after 5 s", "aborted"). */
export function abortReason(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.message) {
    return reason.name === 'TimeoutError' ? 'timed out' : reason.message;
  }
  return typeof reason === 'string' && reason ? reason : 'aborted';
}

/** Rejects as soon as `signal` aborts, with the abort reason; `work` otherwise. */
export function raceAbort<T>(work: Promise<T>, signal: AbortSignal, onAbort?: () => void): Promise<T> {
  if (signal.aborted) {
    onAbort?.();
    work.catch(() => undefined);
    return Promise.reject(new Error(abortReason(signal)));
  }
  return new Promise<T>((resolve, reject) => {
    const abort = (): void => {
      onAbort?.();
      reject(new Error(abortReason(signal)));
    };
    signal.addEventListener('abort', abort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', abort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', abort);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
