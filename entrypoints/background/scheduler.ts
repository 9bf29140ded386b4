import { ChordError } from '../../shared/errors.ts';
import { FairQueue } from './fair-queue.ts';

/** A generation waiting for, or holding, the engine. */
export interface Job {
  lane: string;
  /** Starts the work; calls `finished` exactly once when its stream has ended. Returns its abort. */
  start(finished: () => void): () => void;
  /** Ends a job that never started (aborted while queued). */
  fail(error: ChordError): void;
}

/**
 * One engine, many tabs: generations run `concurrency` at a time, taken from the
 * queue round-robin across lanes (tabs). A queued job can be taken out; a running
 * one is aborted and frees its place when its stream ends.
 */
export class Scheduler {
  private readonly queue = new FairQueue<Job>();
  private readonly running = new Map<Job, () => void>();

  constructor(private readonly concurrency = 1) {}

  submit(job: Job): void {
    this.queue.push(job.lane, job);
    this.pump();
  }

  cancel(job: Job): void {
    if (this.queue.remove((j) => j === job).length > 0) {
      job.fail(new ChordError('ABORTED', 'the request was aborted'));
      return;
    }
    this.running.get(job)?.();
  }

  get pending(): number {
    return this.queue.size;
  }

  private pump(): void {
    while (this.running.size < this.concurrency) {
      const job = this.queue.shift();
      if (!job) return;
      let ended = false;
      const finished = () => {
        if (ended) return;
        ended = true;
        this.running.delete(job);
        this.pump();
      };
      this.running.set(job, () => {});
      const abort = job.start(finished);
      if (!ended) this.running.set(job, abort);
    }
  }
}
