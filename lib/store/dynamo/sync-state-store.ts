/**
 * The engine's synchronous StateStore over DynamoDB: the record is loaded once before the engine
 * starts; every save updates the cache at once and is written to the table in order, in the
 * background (the kill flag with a conditional, first-reason-wins write and an audit item).
 * A write that fails is retried; the engine is told if the store stays unreachable.
 */
import type { EngineStateRecord, EngineStateRepo } from '#store/ports.ts';
import type { PersistedEngineState, StateStore } from '#engine/state-store.ts';

export class DynamoStateStore implements StateStore {
  private readonly repo: EngineStateRepo;
  private readonly shard: number;
  private state: PersistedEngineState;
  private chain: Promise<void> = Promise.resolve();
  private readonly onError: (err: Error) => void;

  private constructor(
    repo: EngineStateRepo,
    shard: number,
    rec: EngineStateRecord,
    onError: (err: Error) => void,
  ) {
    this.repo = repo;
    this.shard = shard;
    this.state = { kill: rec.kill, nextSeq: rec.nextSeq, epoch: rec.epoch };
    this.onError = onError;
  }

  static async open(
    repo: EngineStateRepo,
    shard: number,
    onError: (err: Error) => void,
  ): Promise<DynamoStateStore> {
    return new DynamoStateStore(repo, shard, await repo.load(shard), onError);
  }

  load(): PersistedEngineState {
    return this.state;
  }

  save(next: PersistedEngineState): void {
    const prev = this.state;
    this.state = next;
    this.chain = this.chain.then(async () => {
      for (let attempt = 0; ; attempt++) {
        try {
          if (next.kill && !prev.kill) await this.repo.setKill(this.shard, next.kill);
          if (!next.kill && prev.kill) await this.repo.clearKill(this.shard, 'engine', 'resume', Date.now());
          if (next.nextSeq !== prev.nextSeq || next.epoch !== prev.epoch) {
            await this.repo.reserveSeq(this.shard, next.epoch, next.nextSeq);
          }
          return;
        } catch (err) {
          if (attempt >= 5) {
            this.onError(err as Error);
            return;
          }
          await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
        }
      }
    });
  }

  /** Resolves when every save so far is written. */
  flush(): Promise<void> {
    return this.chain;
  }
}
