/**
 * Engine state that must survive a restart: the kill flag (with its reason) and the trading
 * state. Locally a JSON file written atomically (temp file + rename); on AWS a DynamoDB item.
 * The engine starts HALTED while the kill flag is set; only an explicit, audited resume clears it.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface KillFlag {
  readonly reason: string;
  readonly ts: number;
  /** Who or what set it: 'risk:DAILY_LOSS', 'control', 'ctrl-c', … */
  readonly by: string;
}

export interface PersistedEngineState {
  readonly kill: KillFlag | null;
  /** Next order sequence number per lease epoch (client order ids never repeat across restarts). */
  readonly nextSeq: number;
  readonly epoch: number;
}

export interface StateStore {
  load(): PersistedEngineState;
  save(state: PersistedEngineState): void;
}

export class FileStateStore implements StateStore {
  private readonly path: string;
  constructor(path: string) {
    this.path = path;
  }

  load(): PersistedEngineState {
    try {
      const raw = JSON.parse(readFileSync(this.path, 'utf8')) as Partial<PersistedEngineState>;
      return { kill: raw.kill ?? null, nextSeq: raw.nextSeq ?? 1, epoch: raw.epoch ?? 1 };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kill: null, nextSeq: 1, epoch: 1 };
      // A state file we cannot read must not silently clear a kill flag: refuse to start.
      throw new Error(`engine state ${this.path} is unreadable: ${(err as Error).message}`, { cause: err });
    }
  }

  save(state: PersistedEngineState): void {
    mkdirSync(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
    renameSync(tmp, this.path);
  }
}

export class MemoryStateStore implements StateStore {
  state: PersistedEngineState = { kill: null, nextSeq: 1, epoch: 1 };
  load(): PersistedEngineState {
    return this.state;
  }
  save(state: PersistedEngineState): void {
    this.state = state;
  }
}
