/**
 * A queue that always has a dead-letter queue (the AWS Solutions Constructs default): a poison
 * message is retried `maxReceiveCount` times, then parked where the DLQ alarm sees it.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export interface QueueWithDlqProps {
  /** Queue name without the `.fifo` suffix, e.g. `tradewind-prod-control`. */
  readonly queueName: string;
  /** @default false */
  readonly fifo?: boolean;
  /** Receives before a message moves to the DLQ. @default 5 */
  readonly maxReceiveCount?: number;
  /** Must be at least the consumer's processing time (6 × a Lambda consumer's timeout). @default 3 minutes */
  readonly visibilityTimeout?: Duration;
  /** @default 14 days on the DLQ, 4 days on the queue */
  readonly retention?: Duration;
  /** @default RemovalPolicy.DESTROY */
  readonly removalPolicy?: RemovalPolicy;
}

export class QueueWithDlq extends Construct {
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: QueueWithDlqProps) {
    super(scope, id);
    const fifo = props.fifo ?? false;
    const suffix = fifo ? '.fifo' : '';
    const common = {
      fifo: fifo || undefined,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.DESTROY,
    };
    this.deadLetterQueue = new sqs.Queue(this, 'Dlq', {
      ...common,
      queueName: `${props.queueName}-dlq${suffix}`,
      retentionPeriod: Duration.days(14),
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      ...common,
      queueName: `${props.queueName}${suffix}`,
      visibilityTimeout: props.visibilityTimeout ?? Duration.minutes(3),
      retentionPeriod: props.retention ?? Duration.days(4),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceiveCount ?? 5 },
    });
  }
}
