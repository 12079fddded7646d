/**
 * Alarms and the engine dashboard. Every alarm notifies the alarm topic (→ alert λ → Slack);
 * the critical ones (the engine's heartbeat gone, a venue rate-limiting or banning us, a burst
 * of rejects) also notify the kill topic (→ control λ: HALTED + cancel all at every venue).
 */
import { Duration, Stack } from 'aws-cdk-lib';
import type { StackProps } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { StageConfig } from './config.ts';
import type { FunctionsStack } from './functions-stack.ts';
import { EngineMetric, METRIC_NAMESPACE } from './metrics.ts';
import type { EngineMetricName } from './metrics.ts';
import type { StatefulStack } from './stateful-stack.ts';

export interface AlarmsStackProps extends StackProps {
  readonly config: StageConfig;
  readonly stateful: StatefulStack;
  readonly functions: FunctionsStack;
}

export class AlarmsStack extends Stack {
  readonly alarms: cloudwatch.Alarm[] = [];
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: AlarmsStackProps) {
    super(scope, id, props);
    const { config, stateful, functions } = props;
    const t = config.thresholds;
    const notify = new actions.SnsAction(stateful.alarmTopic);
    const kill = new actions.SnsAction(stateful.killTopic);
    const prefix = `tradewind-${config.stageId}`;

    const engineMetric = (
      name: EngineMetricName,
      statistic: string,
      extra: Record<string, string> = {},
      period = Duration.minutes(5),
    ): cloudwatch.Metric =>
      new cloudwatch.Metric({
        namespace: METRIC_NAMESPACE,
        metricName: name,
        dimensionsMap: { Stage: config.stageId, ...extra },
        statistic,
        period,
      });

    const add = (
      id: string,
      metric: cloudwatch.IMetric,
      opts: {
        threshold: number;
        comparison: cloudwatch.ComparisonOperator;
        description: string;
        critical?: boolean;
        missing?: cloudwatch.TreatMissingData;
        evaluationPeriods?: number;
      },
    ): cloudwatch.Alarm => {
      const alarm = new cloudwatch.Alarm(this, id, {
        alarmName: `${prefix}-${id}`,
        alarmDescription: `${opts.critical ? '[CRITICAL → kill switch] ' : ''}${opts.description}`,
        metric,
        threshold: opts.threshold,
        comparisonOperator: opts.comparison,
        evaluationPeriods: opts.evaluationPeriods ?? 1,
        treatMissingData: opts.missing ?? cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      alarm.addAlarmAction(notify);
      alarm.addOkAction(notify);
      if (opts.critical) alarm.addAlarmAction(kill);
      this.alarms.push(alarm);
      return alarm;
    };
    const GT = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD;
    const GTE = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD;

    for (const shard of config.shards) {
      add(
        `EngineHeartbeatMissing-shard-${shard.id}`,
        engineMetric(
          EngineMetric.heartbeat,
          'SampleCount',
          { Shard: String(shard.id) },
          Duration.seconds(config.engine.heartbeatPeriodSeconds),
        ),
        {
          threshold: 1,
          comparison: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
          // No data is the failure being watched for: a dead engine emits nothing.
          missing: cloudwatch.TreatMissingData.BREACHING,
          evaluationPeriods: 2,
          critical: true,
          description: `Engine shard ${shard.id} has not sent a heartbeat for two periods: it is dead or stuck.`,
        },
      );
    }
    add('BookResyncRate', engineMetric(EngineMetric.bookResync, 'Sum'), {
      threshold: t.bookResyncs,
      comparison: GT,
      description: 'L2 books resync often: a feed is gapping or a checksum keeps failing.',
    });
    add('WsDisconnectRate', engineMetric(EngineMetric.wsDisconnect, 'Sum'), {
      threshold: t.wsDisconnects,
      comparison: GT,
      description: 'Venue WebSockets keep disconnecting.',
    });
    add('VenueRateLimited', engineMetric(EngineMetric.rateLimited, 'Sum'), {
      threshold: t.rateLimited,
      comparison: GTE,
      critical: true,
      description: 'A venue answered 429/418: keep sending and the IP gets banned.',
    });
    add('OrderRejectRate', engineMetric(EngineMetric.orderRejected, 'Sum'), {
      threshold: t.orderRejects,
      comparison: GT,
      critical: true,
      description: 'Many orders rejected in five minutes: the engine and the venue disagree about something.',
    });
    add(
      'DailyLossNearLimit',
      engineMetric(EngineMetric.dailyLossUsedPercent, 'Maximum', {}, Duration.minutes(1)),
      {
        threshold: t.dailyLossUsedPercent,
        comparison: GTE,
        description: `Daily loss has used ${t.dailyLossUsedPercent}% of its limit; risk halts trading at 100%.`,
      },
    );
    add('KillSwitchActive', engineMetric(EngineMetric.killSwitchActive, 'Maximum', {}, Duration.minutes(1)), {
      threshold: 1,
      comparison: GTE,
      description: 'The kill switch is set: trading is HALTED until an audited resume.',
    });

    const dlqs: Array<[string, sqs.IQueue]> = [
      ['ControlDlqNotEmpty', stateful.controlQueue.deadLetterQueue],
      ['AlertsDlqNotEmpty', stateful.alertsQueue.deadLetterQueue],
      ['SnsSubscriptionDlqNotEmpty', functions.subscriptionDlq],
    ];
    for (const [id, dlq] of dlqs) {
      add(
        id,
        dlq.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' }),
        {
          threshold: 0,
          comparison: GT,
          description: 'Messages are parked in a dead-letter queue: something failed all its retries.',
        },
      );
    }

    const fns: Array<[string, lambda.IFunction]> = [
      ['ControlErrors', functions.control],
      ['ReconcileErrors', functions.reconcile],
      ['AlertErrors', functions.alert],
    ];
    for (const [id, fn] of fns) {
      add(id, fn.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }), {
        threshold: 0,
        comparison: GT,
        description: `Lambda ${fn.functionName} threw.`,
      });
    }

    this.dashboard = new cloudwatch.Dashboard(this, 'EngineDashboard', {
      dashboardName: `${prefix}-engine`,
      defaultInterval: Duration.hours(3),
    });
    const graph = (title: string, metrics: cloudwatch.IMetric[]): cloudwatch.GraphWidget =>
      new cloudwatch.GraphWidget({ title, left: metrics, width: 12, height: 6 });
    this.dashboard.addWidgets(
      graph(
        'Heartbeats per shard',
        config.shards.map((s) =>
          engineMetric(EngineMetric.heartbeat, 'SampleCount', { Shard: String(s.id) }, Duration.minutes(1)),
        ),
      ),
      graph('Orders sent / rejected', [
        engineMetric(EngineMetric.orderSent, 'Sum'),
        engineMetric(EngineMetric.orderRejected, 'Sum'),
      ]),
      graph('Book resyncs / WS disconnects', [
        engineMetric(EngineMetric.bookResync, 'Sum'),
        engineMetric(EngineMetric.wsDisconnect, 'Sum'),
      ]),
      graph('Venue 429/418', [engineMetric(EngineMetric.rateLimited, 'Sum')]),
      graph('Daily loss used (% of limit)', [
        engineMetric(EngineMetric.dailyLossUsedPercent, 'Maximum', {}, Duration.minutes(1)),
      ]),
      graph('Kill switch', [engineMetric(EngineMetric.killSwitchActive, 'Maximum', {}, Duration.minutes(1))]),
    );
    this.dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 24, height: 6 }),
    );
  }
}
