/**
 * The three functions and what triggers them:
 *   control   ← API Gateway (IAM auth on every route) and the kill topic (critical alarms):
 *               kill flag + audit in DynamoDB, a message to the engine, and cancel-all at every
 *               venue directly with the cancel-only keys, so a kill works when the engine is dead.
 *   reconcile ← EventBridge every minute: venue truth (read-only keys) vs DynamoDB.
 *   alert     ← the alerts queue (partial batch failures) and the alarm topic → Slack.
 * control and reconcile run in the engine VPC so venues see the allowlisted NAT Elastic IP.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import type { StackProps } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { StageConfig } from './config.ts';
import { acknowledge, suppressApi, suppressFunctionRole } from './nag-suppressions.ts';
import type { StatefulStack } from './stateful-stack.ts';
import { TradewindFunction, bindQueue, bindSecret, bindTable, secretEnvName } from './tradewind-function.ts';

export interface FunctionsStackProps extends StackProps {
  readonly config: StageConfig;
  readonly vpc: ec2.IVpc;
  readonly stateful: StatefulStack;
}

/** The control API's routes: every one is IAM-authorized. */
export const CONTROL_ROUTES: ReadonlyArray<{ method: 'GET' | 'POST'; path: string }> = [
  { method: 'POST', path: 'kill' },
  { method: 'POST', path: 'resume' },
  { method: 'GET', path: 'status' },
  { method: 'GET', path: 'positions' },
  { method: 'GET', path: 'orders' },
  { method: 'GET', path: 'pnl' },
];

export class FunctionsStack extends Stack {
  readonly control: TradewindFunction;
  readonly reconcile: TradewindFunction;
  readonly alert: TradewindFunction;
  readonly api: apigw.RestApi;
  /** SNS → Lambda deliveries that failed after SNS's retries. */
  readonly subscriptionDlq: sqs.Queue;

  constructor(scope: Construct, id: string, props: FunctionsStackProps) {
    super(scope, id, props);
    const { config, stateful, vpc } = props;
    const common = {
      stageId: config.stageId,
      memorySize: config.lambda.memoryMiB,
      timeout: Duration.seconds(config.lambda.timeoutSeconds),
      logRetention: config.logRetentionDays as logs.RetentionDays,
    };

    this.control = new TradewindFunction(this, 'Control', {
      ...common,
      purpose: 'control',
      entry: 'functions/control/handler.ts',
      vpc,
    });
    bindTable(this.control, stateful.table, 'readWrite');
    bindQueue(this.control, stateful.controlQueue.queue, 'send', 'TRADEWIND_CONTROL_QUEUE_URL');
    bindQueue(this.control, stateful.alertsQueue.queue, 'send', 'TRADEWIND_ALERTS_QUEUE_URL');
    for (const venue of config.venues) {
      bindSecret(
        this.control,
        stateful.venueSecret(venue, 'cancel-only'),
        secretEnvName(venue, 'cancel-only'),
      );
    }

    this.reconcile = new TradewindFunction(this, 'Reconcile', {
      ...common,
      purpose: 'reconcile',
      entry: 'functions/reconcile/handler.ts',
      vpc,
      // One run at a time: overlapping reconciliations would race on the drift records.
      reservedConcurrentExecutions: 1,
    });
    bindTable(this.reconcile, stateful.table, 'readWrite');
    bindQueue(this.reconcile, stateful.alertsQueue.queue, 'send', 'TRADEWIND_ALERTS_QUEUE_URL');
    for (const venue of config.venues) {
      bindSecret(this.reconcile, stateful.venueSecret(venue, 'read-only'), secretEnvName(venue, 'read-only'));
      // Orphan orders (ours, unknown to the record) are cancelled, not just reported.
      bindSecret(
        this.reconcile,
        stateful.venueSecret(venue, 'cancel-only'),
        secretEnvName(venue, 'cancel-only'),
      );
    }
    new events.Rule(this, 'ReconcileSchedule', {
      ruleName: `tradewind-${config.stageId}-reconcile`,
      schedule: events.Schedule.rate(Duration.minutes(1)),
      targets: [new targets.LambdaFunction(this.reconcile, { retryAttempts: 0 })],
    });

    this.alert = new TradewindFunction(this, 'Alert', {
      ...common,
      purpose: 'alert',
      entry: 'functions/alert/handler.ts',
      environment: { TRADEWIND_ALERT_CHANNEL: config.alertChannel },
    });
    bindSecret(this.alert, stateful.slackWebhook, 'TRADEWIND_SECRET_SLACK_WEBHOOK');
    // Read access for the daily summary and cross-container alert de-duplication.
    bindTable(this.alert, stateful.table, 'readWrite');
    new events.Rule(this, 'DailySummarySchedule', {
      ruleName: `tradewind-${config.stageId}-daily-summary`,
      schedule: events.Schedule.cron({ minute: '5', hour: '0' }),
      targets: [new targets.LambdaFunction(this.alert, { retryAttempts: 2 })],
    });
    this.alert.addEventSource(
      new SqsEventSource(stateful.alertsQueue.queue, {
        batchSize: 10,
        maxBatchingWindow: Duration.seconds(1),
        reportBatchItemFailures: true,
      }),
    );

    this.subscriptionDlq = new sqs.Queue(this, 'SubscriptionDlq', {
      queueName: `tradewind-${config.stageId}-sns-dlq`,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    acknowledge(this.subscriptionDlq, 'AwsSolutions-SQS3', 'queueDlqItself');
    stateful.alarmTopic.addSubscription(
      new subscriptions.LambdaSubscription(this.alert, { deadLetterQueue: this.subscriptionDlq }),
    );
    stateful.killTopic.addSubscription(
      new subscriptions.LambdaSubscription(this.control, { deadLetterQueue: this.subscriptionDlq }),
    );

    this.api = this.controlApi(config, this.control);

    for (const fn of [this.control, this.reconcile, this.alert]) suppressFunctionRole(fn.role ?? fn);
  }

  private controlApi(config: StageConfig, control: lambda.IFunction): apigw.RestApi {
    const accessLogs = new logs.LogGroup(this, 'ApiAccessLogs', {
      retention: config.logRetentionDays as logs.RetentionDays,
    });
    const api = new apigw.RestApi(this, 'Api', {
      restApiName: `tradewind-${config.stageId}-control`,
      description: 'Tradewind control: kill switch, resume, status. IAM (SigV4) on every route.',
      endpointTypes: [apigw.EndpointType.REGIONAL],
      cloudWatchRole: true,
      deployOptions: {
        stageName: config.stageId,
        accessLogDestination: new apigw.LogGroupLogDestination(accessLogs),
        accessLogFormat: apigw.AccessLogFormat.jsonWithStandardFields(),
        loggingLevel: apigw.MethodLoggingLevel.INFO,
        dataTraceEnabled: false,
        tracingEnabled: true,
        metricsEnabled: true,
        throttlingRateLimit: 10,
        throttlingBurstLimit: 20,
      },
      defaultMethodOptions: { authorizationType: apigw.AuthorizationType.IAM },
    });
    api.addRequestValidator('Validator', { validateRequestBody: true, validateRequestParameters: true });
    const integration = new apigw.LambdaIntegration(control);
    for (const route of CONTROL_ROUTES) {
      const resource = api.root.getResource(route.path) ?? api.root.addResource(route.path);
      resource.addMethod(route.method, integration, { authorizationType: apigw.AuthorizationType.IAM });
    }
    suppressApi(api);
    return api;
  }
}
