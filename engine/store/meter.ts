/**
 * Download speed over the last few seconds (not since the start: a resumed or
 * throttled transfer would otherwise show a stale average) and the ETA from it.
 */
const WINDOW_MS = 5000;

export class SpeedMeter {
  private samples: { t: number; bytes: number }[] = [];

  constructor(private readonly now: () => number = Date.now) {}

  /** Records the running byte count; returns bytes per second over the window. */
  sample(bytes: number): number {
    const t = this.now();
    this.samples.push({ t, bytes });
    while (this.samples.length > 2 && t - this.samples[1]!.t >= WINDOW_MS) this.samples.shift();
    const first = this.samples[0]!;
    const dt = (t - first.t) / 1000;
    return dt > 0 ? Math.max(0, (bytes - first.bytes) / dt) : 0;
  }

  /** Forget the history (a new transfer starts). */
  reset(): void {
    this.samples = [];
  }
}

export function etaSeconds(bytesDone: number, size: number, bytesPerSecond: number): number | null {
  if (size <= 0 || bytesPerSecond <= 0) return null;
  return Math.max(0, (size - bytesDone) / bytesPerSecond);
}
