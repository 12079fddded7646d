/**
 * What must survive a redeploy: the single DynamoDB table (kill flag, leases, journal, audit),
 * the control and alert queues, the alarm topics, and the secrets (created with generated
 * placeholders; operators put the real keys with `aws secretsmanager put-secret-value`, so no
 * secret value is ever in code, templates or outputs).
 */
import { CfnOutput, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { StackProps } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import type { VenueId } from '#core/instrument.ts';
import type { StageConfig, VenueKeyPurpose } from './config.ts';
import { VENUE_KEY_PURPOSES, slackSecretName, venueSecretName } from './config.ts';
import { QueueWithDlq } from './queue-with-dlq.ts';
import { suppressSecretRotation } from './nag-suppressions.ts';
import { GSI1, GSI1_PK, GSI1_SK, PK, SK, tableName, TTL_ATTRIBUTE } from '#store/dynamo/table.ts';

export interface StatefulStackProps extends StackProps {
  readonly config: StageConfig;
}

export class StatefulStack extends Stack {
  readonly table: dynamodb.Table;
  readonly controlQueue: QueueWithDlq;
  readonly alertsQueue: QueueWithDlq;
  /** Every alarm notifies here (→ alert λ → Slack). */
  readonly alarmTopic: sns.Topic;
  /** Critical alarms also notify here (→ control λ: kill switch). */
  readonly killTopic: sns.Topic;
  readonly venueSecrets: ReadonlyMap<string, secretsmanager.Secret>;
  readonly slackWebhook: secretsmanager.Secret;

  constructor(scope: Construct, id: string, props: StatefulStackProps) {
    super(scope, id, props);
    const { config } = props;
    const removalPolicy = config.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    // The key names and the index come from the store's own definition (lib/store/dynamo/table.ts),
    // so the deployed table and the repositories cannot drift apart.
    this.table = new dynamodb.Table(this, 'Table', {
      tableName: tableName(config.stageId),
      partitionKey: { name: PK, type: dynamodb.AttributeType.STRING },
      sortKey: { name: SK, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: TTL_ATTRIBUTE,
      deletionProtection: config.retainData,
      removalPolicy,
    });
    // Open orders per shard and fills per venue (the store's README lists the access patterns).
    this.table.addGlobalSecondaryIndex({
      indexName: GSI1,
      partitionKey: { name: GSI1_PK, type: dynamodb.AttributeType.STRING },
      sortKey: { name: GSI1_SK, type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.ALL,
    });

    this.controlQueue = new QueueWithDlq(this, 'Control', {
      queueName: `tradewind-${config.stageId}-control`,
      fifo: true,
      // The engine long-polls and acks within seconds; a short timeout redelivers quickly after a crash.
      visibilityTimeout: Duration.seconds(30),
      removalPolicy,
    });
    this.alertsQueue = new QueueWithDlq(this, 'Alerts', {
      queueName: `tradewind-${config.stageId}-alerts`,
      // Six times the alert λ timeout, as Lambda event sources require.
      visibilityTimeout: Duration.seconds(config.lambda.timeoutSeconds * 6),
      removalPolicy,
    });

    // CloudWatch alarms can publish to an encrypted topic only with a customer managed key that
    // lets the cloudwatch service principal use it.
    const topicKey = new kms.Key(this, 'AlarmTopicKey', {
      description: `tradewind-${config.stageId} alarm topics`,
      enableKeyRotation: true,
      removalPolicy,
    });
    topicKey.grant(
      new iam.ServicePrincipal('cloudwatch.amazonaws.com'),
      'kms:Decrypt',
      'kms:GenerateDataKey*',
    );
    this.alarmTopic = new sns.Topic(this, 'AlarmTopic', {
      topicName: `tradewind-${config.stageId}-alarms`,
      masterKey: topicKey,
      enforceSSL: true,
    });
    this.killTopic = new sns.Topic(this, 'KillTopic', {
      topicName: `tradewind-${config.stageId}-kill`,
      masterKey: topicKey,
      enforceSSL: true,
    });

    const secrets = new Map<string, secretsmanager.Secret>();
    for (const venue of config.venues) {
      for (const purpose of VENUE_KEY_PURPOSES) {
        const secret = new secretsmanager.Secret(this, `Secret-${venue}-${purpose}`, {
          secretName: venueSecretName(config.stageId, venue, purpose),
          description: `${venue} API key (${purpose}) for tradewind ${config.stageId}; placeholder until an operator puts the real key`,
          // A random placeholder so no value is ever written in code; the JSON shape is the one
          // lib/store SecretStore reads: {"apiKey": "...", "apiSecret": "..."}.
          generateSecretString: {
            secretStringTemplate: JSON.stringify({ apiKey: 'unset' }),
            generateStringKey: 'apiSecret',
            excludePunctuation: true,
          },
          removalPolicy,
        });
        suppressSecretRotation(secret);
        secrets.set(secretKey(venue, purpose), secret);
      }
    }
    this.venueSecrets = secrets;
    this.slackWebhook = new secretsmanager.Secret(this, 'SlackWebhook', {
      secretName: slackSecretName(config.stageId),
      description: `Slack incoming webhook URL for ${config.alertChannel}; placeholder until an operator puts it`,
      generateSecretString: { excludePunctuation: true },
      removalPolicy,
    });
    suppressSecretRotation(this.slackWebhook);

    new CfnOutput(this, 'TableName', { value: this.table.tableName });
    new CfnOutput(this, 'ControlQueueUrl', { value: this.controlQueue.queue.queueUrl });
  }

  venueSecret(venue: VenueId, purpose: VenueKeyPurpose): secretsmanager.Secret {
    const s = this.venueSecrets.get(secretKey(venue, purpose));
    if (!s) throw new Error(`no ${purpose} secret for venue ${venue} in this stage's config`);
    return s;
  }
}

function secretKey(venue: VenueId, purpose: VenueKeyPurpose): string {
  return `${venue}/${purpose}`;
}
