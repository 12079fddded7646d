/**
 * Reading recorded venue traffic, line by line, from any of the formats Tradewind replays:
 *
 * - JSON lines of raw messages, one message per line exactly as received. REST depth snapshots
 *   are recognised by shape (`lastUpdateId` + `bids` + `asks`). No timestamps.
 * - Tradewind recorder envelopes: `{"tw":1,"ts":<recv ms>,"dir":"in"|"out"|"rest"|"conn","url":"...","raw":"<text>"}`
 *   ("conn" marks a connection (re)opening: every book on it starts over, as it did live).
 * - cryptofeed's raw recorder: `<url> <-> <ts>` (connect), `<url> <- <ts>: <json>` (sent),
 *   `<ts>: <json>` (received), `<url> -> <ts>: <body>` (HTTP GET); timestamps in seconds.
 *
 * Each may be gzip-compressed (detected by magic bytes, not by name).
 */
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import { DataError } from '#core/errors.ts';

export type RecordKind = 'in' | 'out' | 'rest' | 'conn';

export interface ReplayRecord {
  readonly kind: RecordKind;
  /** Local receive time in ms; NaN when the format has none. */
  readonly recvTs: number;
  /** Request URL for REST records (carries the symbol), or the stream URL. */
  readonly url: string | undefined;
  /** The message text exactly as received. */
  readonly text: string;
  /** Already-parsed value when the reader had to parse to classify. */
  readonly parsed?: unknown;
  readonly file: string;
  readonly line: number;
}

/** Where a reader is in its file, for progress reports. */
export interface ReadPosition {
  bytesRead: number;
  readonly bytesTotal: number;
  line: number;
}

export class InputError extends DataError {
  readonly file: string;
  readonly line: number;
  constructor(file: string, line: number, message: string) {
    super('BAD_INPUT', `${file}:${line}: ${message}`);
    this.file = file;
    this.line = line;
  }
}

const CF_CONNECT = /^(\S+) <-> ([\d.]+)$/;
const CF_SENT = /^(\S+) <- ([\d.]+): (.*)$/s;
const CF_HTTP = /^(\S+) -> ([\d.]+): (.*)$/s;
const CF_RECV = /^([\d.]+): (.*)$/s;

async function isGzip(file: string): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(2);
    const { bytesRead } = await fh.read(buf, 0, 2, 0);
    return bytesRead === 2 && buf[0] === 0x1f && buf[1] === 0x8b;
  } finally {
    await fh.close();
  }
}

/** Reads one recording; `pos` is updated as it goes. */
export async function* readRecords(file: string, pos?: ReadPosition): AsyncGenerator<ReplayRecord> {
  const total = (await stat(file)).size;
  const p: ReadPosition = pos ?? { bytesRead: 0, bytesTotal: total, line: 0 };
  const gzip = await isGzip(file);
  // No await between creating the stream and wiring it up: a 'data' listener starts the flow.
  const raw = createReadStream(file, { highWaterMark: 1 << 20 });
  const input = gzip ? raw.pipe(createGunzip()) : raw;
  raw.on('data', (chunk) => {
    p.bytesRead += chunk.length;
  });
  const lines = createInterface({ input, crlfDelay: Infinity });
  let format: 'cryptofeed' | 'jsonl' | undefined;
  let streamUrl: string | undefined;
  try {
    for await (const text of lines) {
      p.line++;
      const line = p.line;
      if (text.trim() === '') continue;
      format ??= /^(\S+ <->|\S+ <- [\d.]+: |\S+ -> [\d.]+: |[\d.]+: )/.test(text) ? 'cryptofeed' : 'jsonl';
      if (format === 'jsonl') {
        yield jsonLine(text, file, line);
        continue;
      }
      let m: RegExpExecArray | null;
      if ((m = CF_RECV.exec(text))) {
        yield { kind: 'in', recvTs: Number(m[1]) * 1000, url: streamUrl, text: m[2] as string, file, line };
      } else if ((m = CF_HTTP.exec(text))) {
        yield { kind: 'rest', recvTs: Number(m[2]) * 1000, url: m[1], text: m[3] as string, file, line };
      } else if ((m = CF_SENT.exec(text))) {
        yield { kind: 'out', recvTs: Number(m[2]) * 1000, url: m[1], text: m[3] as string, file, line };
      } else if ((m = CF_CONNECT.exec(text))) {
        streamUrl = m[1];
        yield { kind: 'conn', recvTs: Number(m[2]) * 1000, url: m[1], text: '{}', file, line };
      } else if (text.startsWith('configuration: ')) {
        // cryptofeed writes its own feed configuration after metadata responses.
      } else {
        throw new InputError(file, line, `not a cryptofeed raw-recorder line: ${text.slice(0, 80)}`);
      }
    }
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(file, p.line, `unreadable: ${(err as Error).message}`);
  } finally {
    lines.close();
    raw.destroy();
  }
}

function isRecordKind(v: unknown): v is RecordKind {
  return v === 'in' || v === 'out' || v === 'rest' || v === 'conn';
}

function jsonLine(text: string, file: string, line: number): ReplayRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new InputError(file, line, `not JSON: ${(err as Error).message}`);
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const o = value as Record<string, unknown>;
    if (o.tw === 1) {
      const dir = o.dir;
      if (typeof o.raw !== 'string' || typeof o.ts !== 'number' || !isRecordKind(dir)) {
        throw new InputError(
          file,
          line,
          'recorder envelope needs string raw, numeric ts and dir in|out|rest|conn',
        );
      }
      return {
        kind: dir,
        recvTs: o.ts,
        url: typeof o.url === 'string' ? o.url : undefined,
        text: o.raw,
        file,
        line,
      };
    }
    if (typeof o.lastUpdateId === 'number' && Array.isArray(o.bids) && Array.isArray(o.asks) && !('e' in o)) {
      return { kind: 'rest', recvTs: NaN, url: undefined, text, parsed: value, file, line };
    }
  }
  return { kind: 'in', recvTs: NaN, url: undefined, text, parsed: value, file, line };
}

/**
 * Merges several recordings by receive time (each is in time order already). Records without a
 * timestamp sort before timed ones, so untimed files play in the order given.
 */
export async function* mergeRecords(
  sources: Array<AsyncIterator<ReplayRecord>>,
): AsyncGenerator<ReplayRecord> {
  const heads: Array<ReplayRecord | undefined> = [];
  for (const s of sources) heads.push((await s.next()).value as ReplayRecord | undefined);
  for (;;) {
    let best = -1;
    let bestTs = Infinity;
    for (let i = 0; i < heads.length; i++) {
      const h = heads[i];
      if (!h) continue;
      const ts = Number.isNaN(h.recvTs) ? -Infinity : h.recvTs;
      if (best < 0 || ts < bestTs) {
        best = i;
        bestTs = ts;
      }
    }
    if (best < 0) return;
    const rec = heads[best] as ReplayRecord;
    const next = await (sources[best] as AsyncIterator<ReplayRecord>).next();
    heads[best] = next.done ? undefined : next.value;
    yield rec;
  }
}
