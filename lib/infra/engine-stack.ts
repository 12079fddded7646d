/**
 * The engine: one Fargate service per shard, desiredCount 1, no load balancer (it only dials
 * out). Deployments stop the old task before starting the new one (min 0 % / max 100 %), because
 * two engines on one shard would trade twice; the DynamoDB lease fences a straggler anyway, and
 * the circuit breaker rolls back a task that cannot start.
 */
import { IgnoreMode, Stack } from 'aws-cdk-lib';
import type { StackProps } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { StageConfig } from './config.ts';
import { METRIC_NAMESPACE } from './metrics.ts';
import { suppressEngineTaskDefinition } from './nag-suppressions.ts';
import type { StatefulStack } from './stateful-stack.ts';
import { grantTable } from './tradewind-function.ts';

export interface EngineStackProps extends StackProps {
  readonly config: StageConfig;
  readonly vpc: ec2.IVpc;
  readonly stateful: StatefulStack;
  /** The engine image. @default ContainerImage.fromAsset('fargate') built from the repo root */
  readonly image?: ecs.ContainerImage;
}

export class EngineStack extends Stack {
  readonly cluster: ecs.Cluster;
  readonly services: readonly ecs.FargateService[];

  constructor(scope: Construct, id: string, props: EngineStackProps) {
    super(scope, id, props);
    const { config, stateful } = props;

    this.cluster = new ecs.Cluster(this, 'Cluster', {
      clusterName: `tradewind-${config.stageId}`,
      vpc: props.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });
    // The image is built from the repository root (it needs lib/ and package.json) with the
    // Dockerfile in fargate/.
    const image =
      props.image ??
      ecs.ContainerImage.fromAsset('.', {
        file: 'fargate/Dockerfile',
        exclude: DOCKER_CONTEXT,
        ignoreMode: IgnoreMode.DOCKER,
      });

    const services: ecs.FargateService[] = [];
    for (const shard of config.shards) {
      const venues = config.venues.filter((v) => (shard.symbols[v]?.length ?? 0) > 0);
      const logGroup = new logs.LogGroup(this, `Shard${shard.id}Logs`, {
        logGroupName: `/tradewind/${config.stageId}/engine/shard-${shard.id}`,
        retention: config.logRetentionDays as logs.RetentionDays,
      });
      const taskDef = new ecs.FargateTaskDefinition(this, `Shard${shard.id}Task`, {
        family: `tradewind-${config.stageId}-engine-${shard.id}`,
        cpu: config.engine.cpu,
        memoryLimitMiB: config.engine.memoryMiB,
        runtimePlatform: {
          cpuArchitecture: ecs.CpuArchitecture.ARM64,
          operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
        },
      });
      // Each venue's trade key as two variables, the names lib/store EnvSecretStore reads
      // (TRADEWIND_<VENUE>_TRADE_API_KEY / _API_SECRET); only the trade key reaches the engine.
      const secrets: Record<string, ecs.Secret> = {};
      for (const venue of venues) {
        const secret = stateful.venueSecret(venue, 'trade');
        const stem = `TRADEWIND_${venue}_trade`.toUpperCase().replace(/[^A-Z0-9]+/g, '_');
        secrets[`${stem}_API_KEY`] = ecs.Secret.fromSecretsManager(secret, 'apiKey');
        secrets[`${stem}_API_SECRET`] = ecs.Secret.fromSecretsManager(secret, 'apiSecret');
      }
      taskDef.addContainer('engine', {
        containerName: 'engine',
        image,
        essential: true,
        logging: ecs.LogDrivers.awsLogs({ logGroup, streamPrefix: 'engine' }),
        environment: {
          TRADEWIND_STAGE: config.stageId,
          TRADEWIND_SHARD: String(shard.id),
          TRADEWIND_SYMBOLS: JSON.stringify(shard.symbols),
          TRADEWIND_RISK_LIMITS: config.riskLimitsPath,
          TRADEWIND_TABLE: stateful.table.tableName,
          TRADEWIND_CONTROL_QUEUE_URL: stateful.controlQueue.queue.queueUrl,
          TRADEWIND_ALERTS_QUEUE_URL: stateful.alertsQueue.queue.queueUrl,
          TRADEWIND_METRICS_NAMESPACE: METRIC_NAMESPACE,
          NODE_OPTIONS: '--enable-source-maps',
        },
        secrets,
        readonlyRootFilesystem: true,
      });
      // Least privilege for the task role: the table, its own queues, and re-reading its own
      // trade keys after a rotation (SecretStore.invalidate). EMF metrics go through the log
      // driver, so no cloudwatch:PutMetricData is needed.
      grantTable(taskDef.taskRole, stateful.table, 'readWrite');
      stateful.controlQueue.queue.grantConsumeMessages(taskDef.taskRole);
      stateful.alertsQueue.queue.grantSendMessages(taskDef.taskRole);
      for (const venue of venues) stateful.venueSecret(venue, 'trade').grantRead(taskDef.taskRole);
      suppressEngineTaskDefinition(taskDef, taskDef.obtainExecutionRole());

      const service = new ecs.FargateService(this, `Shard${shard.id}Service`, {
        serviceName: `tradewind-${config.stageId}-engine-${shard.id}`,
        cluster: this.cluster,
        taskDefinition: taskDef,
        desiredCount: 1,
        minHealthyPercent: 0,
        maxHealthyPercent: 100,
        circuitBreaker: { enable: true, rollback: true },
        assignPublicIp: false,
        vpcSubnets: { subnets: props.vpc.privateSubnets },
        enableExecuteCommand: false,
      });
      services.push(service);
    }
    this.services = services;
  }
}

/**
 * The build context as an allowlist (Docker ignore syntax): only what the engine runs from, so
 * the asset hash changes only when the engine can change.
 */
const DOCKER_CONTEXT = [
  '*',
  '!package.json',
  '!package-lock.json',
  '!tsconfig.json',
  '!bin',
  '!lib',
  '!fargate',
  '**/*.test.ts',
];
