import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Waits `ms`, or rejects with the signal's own reason when it aborts (timers/promises would
 * reject with a generic AbortError, hiding e.g. a TimeoutError the caller chose).
 */
export async function sleepOrAbort(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await sleep(ms, undefined, signal ? { signal } : undefined);
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    throw error;
  }
}
