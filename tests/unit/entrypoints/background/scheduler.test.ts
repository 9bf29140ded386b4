import { describe, expect, it } from 'vitest';
import { type Job, Scheduler } from '../../../../entrypoints/background/scheduler.ts';
import type { ChordError } from '../../../../shared/errors.ts';

/** A job that records its life and lets the test end it. */
function job(lane: string, log: string[]) {
  let finish: (() => void) | undefined;
  const j: Job & { end(): void; failedWith?: string } = {
    lane,
    start(finished) {
      log.push(`start ${lane}`);
      finish = finished;
      return () => {
        log.push(`abort ${lane}`);
        finished();
      };
    },
    fail(error: ChordError) {
      j.failedWith = error.code;
    },
    end: () => finish?.(),
  };
  return j;
}

describe('Scheduler', () => {
  it('runs one job at a time, fairly across lanes', () => {
    const log: string[] = [];
    const s = new Scheduler(1);
    const a1 = job('a', log);
    const a2 = job('a', log);
    const b1 = job('b', log);
    s.submit(a1);
    s.submit(a2);
    s.submit(b1);
    expect(log).toEqual(['start a']);
    expect(s.pending).toBe(2);
    a1.end();
    expect(log).toEqual(['start a', 'start b']); // b before a's second request
    b1.end();
    a2.end();
    expect(log).toEqual(['start a', 'start b', 'start a']);
    expect(s.pending).toBe(0);
  });

  it('takes an aborted job out of the queue with ABORTED, and aborts a running one', () => {
    const log: string[] = [];
    const s = new Scheduler(1);
    const running = job('a', log);
    const queued = job('b', log);
    const next = job('c', log);
    s.submit(running);
    s.submit(queued);
    s.submit(next);
    s.cancel(queued);
    expect(queued.failedWith).toBe('ABORTED');
    expect(log).toEqual(['start a']);
    s.cancel(running); // its abort ends its stream, which frees the engine for c
    expect(log).toEqual(['start a', 'abort a', 'start c']);
    expect(s.pending).toBe(0);
  });

  it('ignores a second finish from the same job', () => {
    const log: string[] = [];
    const s = new Scheduler(1);
    const a = job('a', log);
    s.submit(a);
    s.submit(job('b', log));
    s.submit(job('c', log));
    a.end();
    a.end();
    expect(log).toEqual(['start a', 'start b']);
  });
});
