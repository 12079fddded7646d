/**
 * The engine's control inbox: kill / resume / reconcile messages from the control API (SQS on AWS,
 * an in-process queue locally). Each is journalled and durable before it is acknowledged.
 */
import type { ControlMessage, Queue } from '#store/ports.ts';
import type { Engine } from './engine.ts';
import type { Journal } from './journal.ts';

export function runControlInbox(
  queue: Queue<ControlMessage>,
  engine: Engine,
  journal: Journal,
  log: (line: string) => void,
  waitMs = 20_000,
): () => void {
  let running = true;
  void (async () => {
    while (running) {
      try {
        for (const m of await queue.receive(10, waitMs)) {
          const c = m.body;
          journal.append({ kind: 'control', ts: Date.now(), event: `inbox-${c.type}`, message: c });
          if (c.type === 'kill') engine.kill(c.reason, `control:${c.by}`);
          else if (c.type === 'resume') engine.resume(`control:${c.by}`, c.reason);
          else engine.reconcileNow();
          await journal.flush();
          await queue.ack(m.receipt);
          log(`control: ${c.type} by ${c.by}`);
        }
      } catch (err) {
        if (!running) return;
        log(`control inbox: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  })();
  return () => {
    running = false;
  };
}
