import {
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { OperationalError } from '#core/errors.ts';
import { controlCodec, encodeControlMessage } from '#store/messages.ts';
import type { ControlMessage } from '#store/ports.ts';
import { InProcessQueue, SqsQueue, sqsDeduplicationId, type PoisonMessage } from '#store/queues.ts';

const FIFO_URL = 'https://sqs.eu-west-1.amazonaws.com/123456789012/tradewind-control.fifo';
const STD_URL = 'https://sqs.eu-west-1.amazonaws.com/123456789012/tradewind-alerts';

const kill: ControlMessage = { v: 1, type: 'kill', id: 'kill-1', reason: 'drawdown', by: 'ops', ts: 1000 };
const resume: ControlMessage = { v: 1, type: 'resume', id: 'resume-1', reason: 'fixed', by: 'ops', ts: 2000 };

describe('SqsQueue', () => {
  const sqs = mockClient(SQSClient);
  beforeEach(() => sqs.reset());

  function queue(
    url: string,
    extra: Partial<ConstructorParameters<typeof SqsQueue<ControlMessage>>[0]> = {},
  ) {
    return new SqsQueue<ControlMessage>({
      client: new SQSClient({ region: 'eu-west-1' }),
      queueUrl: url,
      codec: controlCodec,
      ...extra,
    });
  }

  it('sends to a FIFO queue with group and deduplication ids', async () => {
    sqs.on(SendMessageCommand).resolves({ MessageId: 'm1' });
    await queue(FIFO_URL).send(kill, 'kill-1');
    const calls = sqs.commandCalls(SendMessageCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.args[0].input).toEqual({
      QueueUrl: FIFO_URL,
      MessageBody: encodeControlMessage(kill),
      MessageAttributes: { idempotencyKey: { DataType: 'String', StringValue: 'kill-1' } },
      MessageGroupId: 'tradewind',
      MessageDeduplicationId: 'kill-1',
    });
  });

  it('sends to a standard queue without FIFO fields', async () => {
    sqs.on(SendMessageCommand).resolves({ MessageId: 'm1' });
    await queue(STD_URL).send(kill, 'kill-1');
    expect(sqs.commandCalls(SendMessageCommand)[0]?.args[0].input).toEqual({
      QueueUrl: STD_URL,
      MessageBody: encodeControlMessage(kill),
      MessageAttributes: { idempotencyKey: { DataType: 'String', StringValue: 'kill-1' } },
    });
  });

  it('hashes an idempotency key SQS would not accept as a dedup id', () => {
    expect(sqsDeduplicationId('ok-key_1')).toBe('ok-key_1');
    const hashed = sqsDeduplicationId('a key with spaces');
    expect(hashed).toMatch(/^[0-9a-f]{64}$/);
    expect(sqsDeduplicationId('x'.repeat(200))).toMatch(/^[0-9a-f]{64}$/);
  });

  it('refuses to send an invalid message', async () => {
    await expect(queue(FIFO_URL).send({ ...kill, reason: '' }, 'k')).rejects.toThrow(/reason/);
    expect(sqs.commandCalls(SendMessageCommand)).toHaveLength(0);
  });

  it('long-polls with WaitTimeSeconds and returns validated bodies', async () => {
    sqs.on(ReceiveMessageCommand).resolves({
      Messages: [{ MessageId: 'a', ReceiptHandle: 'rh-a', Body: encodeControlMessage(kill), Attributes: {} }],
    });
    const got = await queue(FIFO_URL).receive(25, 15_500);
    expect(got).toEqual([{ body: kill, receipt: 'rh-a' }]);
    expect(sqs.commandCalls(ReceiveMessageCommand)[0]?.args[0].input).toEqual({
      QueueUrl: FIFO_URL,
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: 16,
      MessageSystemAttributeNames: ['ApproximateReceiveCount'],
      MessageAttributeNames: ['idempotencyKey'],
    });
  });

  it('caps the wait at 20 s and sets a visibility timeout when configured', async () => {
    sqs.on(ReceiveMessageCommand).resolves({});
    expect(await queue(FIFO_URL, { visibilityTimeoutSeconds: 60 }).receive(1, 60_000)).toEqual([]);
    expect(sqs.commandCalls(ReceiveMessageCommand)[0]?.args[0].input).toMatchObject({
      MaxNumberOfMessages: 1,
      WaitTimeSeconds: 20,
      VisibilityTimeout: 60,
    });
  });

  it('reports a poison message instead of throwing, and leaves it for the DLQ', async () => {
    sqs.on(ReceiveMessageCommand).resolves({
      Messages: [
        {
          MessageId: 'bad',
          ReceiptHandle: 'rh-bad',
          Body: '{"v":9}',
          Attributes: { ApproximateReceiveCount: '3' },
        },
        { MessageId: 'ok', ReceiptHandle: 'rh-ok', Body: encodeControlMessage(resume) },
      ],
    });
    const poison: PoisonMessage[] = [];
    const got = await queue(FIFO_URL, { onPoison: (p) => poison.push(p) }).receive(10, 0);
    expect(got).toEqual([{ body: resume, receipt: 'rh-ok' }]);
    expect(poison).toHaveLength(1);
    expect(poison[0]).toMatchObject({ messageId: 'bad', receiveCount: 3, bodyPreview: '{"v":9}' });
    expect(poison[0]?.error.message).toMatch(/version 9/);
    expect(sqs.commandCalls(DeleteMessageCommand)).toHaveLength(0);
  });

  it('deletes a poison message under the delete policy, even if the reporter throws', async () => {
    sqs
      .on(ReceiveMessageCommand)
      .resolves({ Messages: [{ MessageId: 'bad', ReceiptHandle: 'rh-bad', Body: 'not json' }] });
    sqs.on(DeleteMessageCommand).resolves({});
    const q = queue(FIFO_URL, {
      poisonPolicy: 'delete',
      onPoison: () => {
        throw new Error('logger down');
      },
    });
    expect(await q.receive(10, 0)).toEqual([]);
    expect(sqs.commandCalls(DeleteMessageCommand)[0]?.args[0].input).toEqual({
      QueueUrl: FIFO_URL,
      ReceiptHandle: 'rh-bad',
    });
  });

  it('acks with DeleteMessage', async () => {
    sqs.on(DeleteMessageCommand).resolves({});
    await queue(FIFO_URL).ack('rh-1');
    expect(sqs.commandCalls(DeleteMessageCommand)[0]?.args[0].input).toEqual({
      QueueUrl: FIFO_URL,
      ReceiptHandle: 'rh-1',
    });
  });

  it('wraps SDK failures as operational errors', async () => {
    sqs.on(ReceiveMessageCommand).rejects(Object.assign(new Error('boom'), { name: 'QueueDoesNotExist' }));
    const e: unknown = await queue(FIFO_URL)
      .receive(1, 0)
      .catch((x: unknown) => x);
    expect(e).toBeInstanceOf(OperationalError);
    expect((e as OperationalError).code).toBe('SQS_RECEIVE_FAILED');
    expect((e as Error).message).toContain('QueueDoesNotExist');
  });
});

describe('InProcessQueue', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('delivers in FIFO order and drops a repeated idempotency key', async () => {
    const q = new InProcessQueue<ControlMessage>({ codec: controlCodec });
    await q.send(kill, kill.id);
    await q.send(kill, kill.id);
    await q.send(resume, resume.id);
    const got = await q.receive(10, 0);
    expect(got.map((r) => r.body)).toEqual([kill, resume]);
  });

  it('accepts the same key again once the dedup window has passed', async () => {
    let now = 0;
    const q = new InProcessQueue<string>({ dedupWindowMs: 1000, now: () => now });
    await q.send('a', 'k');
    const [first] = await q.receive(1, 0);
    await q.ack(first!.receipt);
    now = 999;
    await q.send('a', 'k');
    expect(q.depth).toBe(0);
    now = 1000;
    await q.send('a', 'k');
    expect(q.depth).toBe(1);
  });

  it('redelivers an unacknowledged message after the visibility timeout, and blocks its group meanwhile', async () => {
    let now = 0;
    const q = new InProcessQueue<string>({ visibilityTimeoutMs: 100, now: () => now });
    await q.send('first', '1');
    await q.send('second', '2');
    const [a] = await q.receive(1, 0);
    expect(a?.body).toBe('first');
    // FIFO: 'second' waits while 'first' is in flight.
    expect(await q.receive(10, 0)).toEqual([]);
    now = 100;
    const again = await q.receive(10, 0);
    expect(again.map((r) => r.body)).toEqual(['first', 'second']);
    // The old receipt is stale: acking with it does nothing.
    await q.ack(a!.receipt);
    expect(q.depth).toBe(2);
    for (const r of again) await q.ack(r.receipt);
    expect(q.depth).toBe(0);
  });

  it('lets other message groups proceed while one is blocked', async () => {
    const q = new InProcessQueue<{ g: string; n: number }>({ messageGroupId: (b) => b.g });
    await q.send({ g: 'a', n: 1 }, 'a1');
    await q.send({ g: 'a', n: 2 }, 'a2');
    await q.send({ g: 'b', n: 1 }, 'b1');
    const [first] = await q.receive(1, 0);
    expect(first?.body).toEqual({ g: 'a', n: 1 });
    expect((await q.receive(10, 0)).map((r) => r.body)).toEqual([{ g: 'b', n: 1 }]);
  });

  it('moves a message to the dead letters after maxReceiveCount receives', async () => {
    let now = 0;
    const q = new InProcessQueue<string>({ visibilityTimeoutMs: 10, maxReceiveCount: 2, now: () => now });
    await q.send('stuck', 's');
    expect(await q.receive(1, 0)).toHaveLength(1);
    now = 10;
    expect(await q.receive(1, 0)).toHaveLength(1);
    now = 20;
    expect(await q.receive(1, 0)).toEqual([]);
    expect(q.deadLetters()).toEqual(['stuck']);
    expect(q.depth).toBe(0);
  });

  it('wakes a waiting receive when a message is sent', async () => {
    vi.useFakeTimers();
    const start = Date.now();
    const q = new InProcessQueue<string>();
    const pending = q.receive(5, 10_000);
    await vi.advanceTimersByTimeAsync(3000);
    await q.send('hello', 'h');
    const got = await pending;
    expect(got.map((r) => r.body)).toEqual(['hello']);
    expect(Date.now() - start).toBe(3000);
  });

  it('waits up to waitMs without busy looping, then returns nothing', async () => {
    vi.useFakeTimers();
    const q = new InProcessQueue<string>();
    const nowSpy = vi.spyOn(Date, 'now');
    const pending = q.receive(1, 5000);
    let done = false;
    void pending.then(() => (done = true));
    await vi.advanceTimersByTimeAsync(4999);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await pending).toEqual([]);
    // A handful of clock reads, not thousands: it slept on a timer.
    expect(nowSpy.mock.calls.length).toBeLessThan(10);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('wakes when a visibility timeout lapses during the wait', async () => {
    vi.useFakeTimers();
    const q = new InProcessQueue<string>({ visibilityTimeoutMs: 1000 });
    await q.send('x', 'x');
    await q.receive(1, 0);
    const pending = q.receive(1, 5000);
    await vi.advanceTimersByTimeAsync(1000);
    expect((await pending).map((r) => r.body)).toEqual(['x']);
  });

  it('reports a poison message and withholds it', async () => {
    const poison: PoisonMessage[] = [];
    // A codec whose parser rejects what it encoded: the only way poison gets into a local queue.
    const q = new InProcessQueue<ControlMessage>({
      codec: { ...controlCodec, parse: () => controlCodec.parse('{"v":2}') },
      onPoison: (p) => poison.push(p),
    });
    await q.send(kill, kill.id);
    expect(await q.receive(1, 0)).toEqual([]);
    expect(poison[0]?.error.message).toMatch(/version 2/);
    expect(q.deadLetters()).toEqual([kill]);
  });

  it('close() releases a waiting receive', async () => {
    const q = new InProcessQueue<string>();
    const pending = q.receive(1, 60_000);
    q.close();
    expect(await pending).toEqual([]);
    await expect(q.send('late', 'l')).rejects.toThrow(/closed/);
  });
});
