/**
 * The control API for local runs (`npm start`): the same core as the control λ
 * (functions/control/core.ts), served over HTTP on 127.0.0.1 only. API Gateway's IAM auth is
 * replaced by a bearer token that is random per run and printed once at start, so another local
 * process or a browser page cannot kill or resume the engine without having seen the console.
 *
 *   POST /kill {reason}   POST /resume {confirm: true, reason}   GET /status /positions /orders /pnl
 *
 * with `Authorization: Bearer <token>`; status codes as documented in the core.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { handleControl, type ControlDeps, type ControlResponse } from '#functions/control/core.ts';

export interface LocalControlServerOptions {
  /** The core's ports (local: embedded DynamoDB repos, the in-process control queue, simulator clients). */
  readonly deps: ControlDeps;
  /** @default 0 (any free port) */
  readonly port?: number;
  /** Who the audit trail names as the caller. @default 'local:operator' */
  readonly identity?: string;
  /** A fixed token (tests); @default 32 random bytes, base64url */
  readonly token?: string;
  /** Called once with the line to show the operator (url + token). @default not printed */
  readonly print?: (line: string) => void;
}

export interface LocalControlServer {
  readonly url: string;
  readonly token: string;
  close(): Promise<void>;
}

/** Request bodies above this are refused (413): a kill reason is a sentence, not a file. */
const MAX_BODY = 16 * 1024;

function send(res: ServerResponse, r: ControlResponse): void {
  const body = JSON.stringify(r.body);
  res.writeHead(r.statusCode, {
    'content-type': 'application/json',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

function readBody(req: IncomingMessage): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error('too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(chunks.length === 0 ? null : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(\S+)$/i.exec(header ?? '');
  if (!m) return false;
  const given = Buffer.from(m[1] as string);
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

export async function startLocalControlServer(opts: LocalControlServerOptions): Promise<LocalControlServer> {
  const token = opts.token ?? randomBytes(32).toString('base64url');
  const identity = opts.identity ?? 'local:operator';
  const server = createServer((req, res) => {
    void (async () => {
      let body: string | null;
      try {
        body = await readBody(req);
      } catch {
        send(res, { statusCode: 413, body: { error: `body larger than ${MAX_BODY} bytes` } });
        return;
      }
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const key = req.headers['idempotency-key'];
      const r = await handleControl(opts.deps, {
        method: req.method ?? 'GET',
        path: url.pathname,
        body,
        // No valid token = no identity: the core answers 403, exactly as without IAM on AWS.
        identity: tokenMatches(req.headers.authorization, token) ? identity : null,
        query: Object.fromEntries(url.searchParams),
        idempotencyKey: typeof key === 'string' ? key : undefined,
      });
      send(res, r);
    })().catch((e: unknown) => {
      // handleControl never throws; this is the socket failing mid-answer.
      if (!res.headersSent) send(res, { statusCode: 500, body: { error: String(e) } });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  opts.print?.(`control API on ${url} — Authorization: Bearer ${token}`);
  return {
    url,
    token,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
