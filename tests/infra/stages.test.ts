import { Match } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { EngineMetric } from '#infra/metrics.ts';
import { listAcknowledgements } from '#infra/nag-suppressions.ts';
import { CONTROL_ROUTES } from '#infra/functions-stack.ts';
import { asArray, buildStages, get } from './app-fixture.ts';
import type { CfnResourceJson, Json } from './app-fixture.ts';

const { stages } = buildStages();

/** Actions AWS only grants on Resource "*"; each is acknowledged in lib/infra/nag-suppressions.ts. */
const WILDCARD_RESOURCE_ACTIONS = new Set([
  'xray:PutTraceSegments', // X-Ray has no resource-level permissions
  'xray:PutTelemetryRecords',
  'ecr:GetAuthorizationToken', // the ECR login token is account-wide
]);

function ofType(resources: readonly CfnResourceJson[], type: string): CfnResourceJson[] {
  return resources.filter((r) => r.type === type);
}

function refId(value: Json | undefined): string | undefined {
  const arn = get(value, 'Fn::GetAtt', 0) ?? get(value, 'Ref');
  return typeof arn === 'string' ? arn : undefined;
}

describe.each(stages)('the $config.stage stage', ({ config, stage, stacks, templates, resources }) => {
  it('has the stateful resources apart from the stateless stacks', () => {
    expect(stacks.map((s) => s.stackName).sort()).toEqual(
      ['Alarms', 'Engine', 'Functions', 'Network', 'Stateful'].map((n) => `${config.stage}-${n}`),
    );
    const stateful = templates.get('Stateful')!;
    stateful.resourceCountIs('AWS::DynamoDB::Table', 1);
    expect(
      resources.filter((r) => r.type === 'AWS::DynamoDB::Table').every((r) => r.stack === 'Stateful'),
    ).toBe(true);
  });

  it('has no load balancer anywhere', () => {
    expect(resources.filter((r) => r.type.startsWith('AWS::ElasticLoadBalancing'))).toEqual([]);
    for (const s of ofType(resources, 'AWS::ECS::Service'))
      expect(get(s.props, 'LoadBalancers')).toBeUndefined();
  });

  it('runs one engine task per shard, stopping the old one before starting the new, with rollback', () => {
    const services = ofType(resources, 'AWS::ECS::Service');
    expect(services).toHaveLength(config.shards.length);
    for (const s of services) {
      expect(get(s.props, 'DesiredCount')).toBe(1);
      expect(get(s.props, 'LaunchType')).toBe('FARGATE');
      expect(get(s.props, 'DeploymentConfiguration')).toMatchObject({
        MinimumHealthyPercent: 0,
        MaximumPercent: 100,
        DeploymentCircuitBreaker: { Enable: true, Rollback: true },
      });
      expect(get(s.props, 'NetworkConfiguration', 'AwsvpcConfiguration', 'AssignPublicIp')).toBe('DISABLED');
    }
  });

  it('injects the trade keys from Secrets Manager and keeps logs for the configured retention', () => {
    const [task] = ofType(resources, 'AWS::ECS::TaskDefinition');
    const container = get(task?.props, 'ContainerDefinitions', 0);
    const secretNames = asArray(get(container, 'Secrets')).map((s) => get(s, 'Name'));
    expect(secretNames).toEqual(
      expect.arrayContaining([
        'TRADEWIND_BINANCE_FUTURES_TRADE_API_KEY',
        'TRADEWIND_BINANCE_FUTURES_TRADE_API_SECRET',
      ]),
    );
    expect(JSON.stringify(get(container, 'Environment'))).not.toMatch(/API_KEY|API_SECRET|WEBHOOK/);
    for (const lg of ofType(resources, 'AWS::Logs::LogGroup')) {
      expect(get(lg.props, 'RetentionInDays')).toBe(config.logRetentionDays);
    }
  });

  it('egresses through a NAT gateway with an Elastic IP and outputs its allocation', () => {
    const network = templates.get('Network')!;
    network.resourceCountIs('AWS::EC2::NatGateway', 1);
    network.resourceCountIs('AWS::EC2::EIP', 1);
    network.hasOutput('EgressIpAllocationId', {});
  });

  it('authorizes every API method with IAM', () => {
    const methods = ofType(resources, 'AWS::ApiGateway::Method');
    expect(methods).toHaveLength(CONTROL_ROUTES.length);
    for (const m of methods) expect(get(m.props, 'AuthorizationType')).toBe('AWS_IAM');
  });

  it('keeps the table recoverable (PITR, TTL on ttl) and, in Prod, protected and retained', () => {
    templates.get('Stateful')!.hasResource('AWS::DynamoDB::Table', {
      Properties: Match.objectLike({
        TableName: `tradewind-${config.stageId}`,
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
        ...(config.stage === 'Prod' ? { DeletionProtectionEnabled: true } : {}),
      }),
      DeletionPolicy: config.stage === 'Prod' ? 'Retain' : 'Delete',
    });
  });

  it('gives every queue a dead-letter queue (or is one)', () => {
    const queues = ofType(resources, 'AWS::SQS::Queue');
    const dlqTargets = new Set(
      resources
        .flatMap((r) => [get(r.props, 'RedrivePolicy', 'deadLetterTargetArn'), get(r.props, 'RedrivePolicy')])
        .map((v) => refId(v) ?? refId(get(v, 'deadLetterTargetArn'))),
    );
    expect(queues.length).toBeGreaterThanOrEqual(5);
    for (const q of queues) {
      const hasDlq = get(q.props, 'RedrivePolicy', 'deadLetterTargetArn') !== undefined;
      expect(hasDlq || dlqTargets.has(q.id), `${q.stack}/${q.id} has no DLQ`).toBe(true);
    }
    templates.get('Stateful')!.hasResourceProperties('AWS::SQS::Queue', {
      QueueName: `tradewind-${config.stageId}-control.fifo`,
      FifoQueue: true,
    });
  });

  it('names the secrets by purpose and never holds a secret value', () => {
    const secrets = ofType(resources, 'AWS::SecretsManager::Secret');
    const names = secrets.map((s) => get(s.props, 'Name'));
    for (const venue of config.venues) {
      for (const purpose of ['trade', 'cancel-only', 'read-only']) {
        expect(names).toContain(`tradewind/${config.stageId}/${venue}/${purpose}`);
      }
    }
    expect(names).toContain(`tradewind/${config.stageId}/slack-webhook`);
    for (const s of secrets) {
      expect(get(s.props, 'SecretString')).toBeUndefined();
      expect(get(s.props, 'GenerateSecretString')).toBeDefined();
    }
  });

  it('has the alarms, by metric name, with the critical ones on the kill path', () => {
    const alarms = ofType(resources, 'AWS::CloudWatch::Alarm');
    const metricNames = new Set(alarms.map((a) => get(a.props, 'MetricName')));
    for (const name of [
      EngineMetric.heartbeat,
      EngineMetric.bookResync,
      EngineMetric.wsDisconnect,
      EngineMetric.rateLimited,
      EngineMetric.orderRejected,
      EngineMetric.dailyLossUsedPercent,
      EngineMetric.killSwitchActive,
      'ApproximateNumberOfMessagesVisible',
      'Errors',
    ]) {
      expect(metricNames, name).toContain(name);
    }
    const heartbeat = alarms.find((a) => get(a.props, 'MetricName') === EngineMetric.heartbeat);
    expect(get(heartbeat?.props, 'TreatMissingData')).toBe('breaching');
    const killActions = (a: CfnResourceJson): number => asArray(get(a.props, 'AlarmActions')).length;
    expect(killActions(heartbeat!)).toBe(2);
    const killSwitch = alarms.find((a) => get(a.props, 'MetricName') === EngineMetric.killSwitchActive);
    expect(killActions(killSwitch!)).toBe(1);
    templates.get('Alarms')!.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    templates.get('Functions')!.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'lambda' });
  });

  it('runs every function on nodejs24.x, arm64', () => {
    const fns = ofType(resources, 'AWS::Lambda::Function');
    expect(fns).toHaveLength(3);
    for (const f of fns) {
      expect(get(f.props, 'Runtime')).toBe('nodejs24.x');
      expect(get(f.props, 'Architectures')).toEqual(['arm64']);
      expect(get(f.props, 'TracingConfig', 'Mode')).toBe('Active');
    }
  });

  it('wires the alert function to the alerts queue with partial batch failures', () => {
    templates.get('Functions')!.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    templates.get('Functions')!.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
    });
  });

  it('grants no wildcard actions, and Resource "*" only where AWS requires it', () => {
    for (const policy of ofType(resources, 'AWS::IAM::Policy')) {
      for (const st of asArray(get(policy.props, 'PolicyDocument', 'Statement'))) {
        const actions = asArray(get(st, 'Action')).map(String);
        for (const a of actions) expect(a, `${policy.id}: ${a}`).not.toMatch(/(^\*$|:\*$)/);
        if (get(st, 'Resource') === '*') {
          for (const a of actions)
            expect(WILDCARD_RESOURCE_ACTIONS.has(a), `${policy.id}: ${a} on *`).toBe(true);
        }
      }
    }
  });

  it('lets the engine task read only its own trade keys', () => {
    const engine = stage.engine.node;
    const taskPolicies = ofType(resources, 'AWS::IAM::Policy').filter(
      (p) => p.stack === 'Engine' && p.id.includes('TaskRole'),
    );
    expect(taskPolicies.length, engine.path).toBeGreaterThan(0);
    const text = JSON.stringify(taskPolicies.map((p) => p.props));
    expect(text).toMatch(/secretsmanager:GetSecretValue/);
    expect(text).not.toMatch(/cancel-?only|read-?only|CancelOnly|ReadOnly|SlackWebhook/i);
  });

  it('passes cdk-nag AwsSolutions with no unacknowledged error or warning', () => {
    const report = new AwsSolutionsChecks().validateScope(stage);
    expect(
      report.violations.map((v) => `${v.severity} ${v.ruleName}: ${v.violatingResources[0]?.constructPath}`),
    ).toEqual([]);
  });

  it('gives every cdk-nag acknowledgement a written reason', () => {
    const acks = listAcknowledgements(stage);
    expect(acks.length).toBeGreaterThan(0);
    for (const a of acks) expect(a.reason.length, `${a.path} ${a.id}`).toBeGreaterThan(40);
  });
});
