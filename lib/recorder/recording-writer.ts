/**
 * Writes raw venue traffic, exactly as received, as gzip JSON lines rotated hourly — the format
 * `tradewind replay` reads: one envelope per line,
 * `{"tw":1,"ts":<receive ms>,"dir":"in"|"out"|"rest"|"conn","url":"…","raw":"<exact text>"}`.
 *
 * Nothing is lost on shutdown: `close()` ends the gzip stream (flushing its last block) and waits
 * for the file to be closed. Each hour's file is complete and readable on its own.
 */
import { createWriteStream, existsSync, mkdirSync } from 'node:fs';
import type { WriteStream } from 'node:fs';
import { join } from 'node:path';
import { createGzip } from 'node:zlib';
import type { Gzip } from 'node:zlib';

/** in/out: WebSocket frames received/sent; rest: a REST response; conn: a connection (re)opened. */
export type RecordDir = 'in' | 'out' | 'rest' | 'conn';

export interface RecordedMessage {
  readonly dir: RecordDir;
  /** Local receive (or send) time in ms. */
  readonly ts: number;
  readonly url?: string | undefined;
  /** The exact text. */
  readonly raw: string;
}

export interface RecordingWriterOptions {
  readonly dir: string;
  /** File name prefix, e.g. the venue id. */
  readonly prefix: string;
  /** Rotation period (default one hour, on UTC hour boundaries). */
  readonly rotateMs?: number;
}

interface OpenFile {
  readonly path: string;
  readonly period: number;
  readonly gzip: Gzip;
  readonly file: WriteStream;
  readonly done: Promise<void>;
}

export class RecordingWriter {
  private readonly opts: RecordingWriterOptions;
  private readonly rotateMs: number;
  private current: OpenFile | null = null;
  private closing: Array<Promise<void>> = [];
  private closed = false;
  /** Every file written, in order. */
  readonly files: string[] = [];
  written = 0;

  constructor(opts: RecordingWriterOptions) {
    this.opts = opts;
    this.rotateMs = opts.rotateMs ?? 3_600_000;
    mkdirSync(opts.dir, { recursive: true });
  }

  write(m: RecordedMessage): void {
    if (this.closed) throw new Error('recording writer is closed');
    const period = Math.floor(m.ts / this.rotateMs);
    if (!this.current || this.current.period !== period) this.rotate(period);
    const line = JSON.stringify({ tw: 1, ts: m.ts, dir: m.dir, url: m.url, raw: m.raw });
    (this.current as OpenFile).gzip.write(`${line}\n`);
    this.written++;
  }

  private rotate(period: number): void {
    if (this.current) this.closing.push(this.finish(this.current));
    const stamp = new Date(period * this.rotateMs).toISOString().replace(/[-:]/g, '').slice(0, 13);
    let path = join(this.opts.dir, `${this.opts.prefix}-${stamp}.jsonl.gz`);
    // A restart within the same hour must not overwrite what is there: number the next file.
    for (let i = 1; this.files.includes(path) || existsSync(path); i++) {
      path = join(this.opts.dir, `${this.opts.prefix}-${stamp}.${i}.jsonl.gz`);
    }
    const gzip = createGzip();
    const file = createWriteStream(path, { flags: 'wx' });
    gzip.pipe(file);
    const done = new Promise<void>((resolve, reject) => {
      file.on('close', () => resolve());
      file.on('error', reject);
      gzip.on('error', reject);
    });
    this.current = { path, period, gzip, file, done };
    this.files.push(path);
  }

  private finish(f: OpenFile): Promise<void> {
    f.gzip.end();
    return f.done;
  }

  /** Flushes and closes every file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.current) this.closing.push(this.finish(this.current));
    this.current = null;
    await Promise.all(this.closing);
  }
}
