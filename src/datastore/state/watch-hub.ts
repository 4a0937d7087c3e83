/**
 * Fan-out of applied revisions to in-process listeners (the watch layer). Delivery is synchronous,
 * after the batch's transaction committed, one call per revision in revision order: a listener
 * never sees a revision that could still roll back, and nothing polls.
 */
import type { Logger } from '../../lib/log.js';
import type { RevisionEvents } from './types.js';

export type RevisionListener = (batch: RevisionEvents) => void;

export class WatchHub {
  private readonly listeners = new Set<RevisionListener>();

  constructor(private readonly logger: Logger) {}

  get size(): number {
    return this.listeners.size;
  }

  subscribe(listener: RevisionListener): () => void {
    // A wrapper per subscription, so the same function subscribed twice is two subscriptions.
    const entry: RevisionListener = (batch) => listener(batch);
    this.listeners.add(entry);
    return () => {
      this.listeners.delete(entry);
    };
  }

  publish(revisions: readonly RevisionEvents[]): void {
    const listeners = [...this.listeners];
    for (const revision of revisions) {
      for (const listener of listeners) {
        // Unsubscribed by an earlier callback of this batch: stop at once.
        if (!this.listeners.has(listener)) continue;
        try {
          listener(revision);
        } catch (error) {
          // One broken watcher must not stop the others or the apply loop.
          this.logger.error('watch listener threw', { revision: revision.revision, error });
        }
      }
    }
  }
}
