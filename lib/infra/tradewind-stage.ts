/**
 * One deployment of Tradewind (Staging or Prod): stateful resources apart from the stateless
 * ones, so the engine, functions and alarms can be replaced freely while the table, queues,
 * secrets and the egress IP stay.
 *
 *   <Stage>-Stateful   table, queues + DLQs, alarm/kill topics, secrets
 *   <Stage>-Network    VPC, NAT gateway with the allowlisted Elastic IP
 *   <Stage>-Engine     ECS cluster, one Fargate service per shard
 *   <Stage>-Functions  control (API), reconcile (schedule), alert (queue + topic)
 *   <Stage>-Alarms     alarms + engine dashboard
 */
import { Stage, Tags } from 'aws-cdk-lib';
import type { StageProps } from 'aws-cdk-lib';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import type { Construct } from 'constructs';
import { AlarmsStack } from './alarms-stack.ts';
import type { StageConfig } from './config.ts';
import { EngineStack } from './engine-stack.ts';
import { FunctionsStack } from './functions-stack.ts';
import { NetworkStack } from './network-stack.ts';
import { StatefulStack } from './stateful-stack.ts';

export interface TradewindStageProps extends StageProps {
  readonly config: StageConfig;
  /** Overrides the engine image (tests use a registry image so nothing is staged). @default fargate/Dockerfile */
  readonly engineImage?: ecs.ContainerImage;
}

export class TradewindStage extends Stage {
  readonly stateful: StatefulStack;
  readonly network: NetworkStack;
  readonly engine: EngineStack;
  readonly functions: FunctionsStack;
  readonly alarms: AlarmsStack;

  constructor(scope: Construct, id: string, props: TradewindStageProps) {
    super(scope, id, { ...props, env: props.config.env });
    const { config } = props;
    const env = config.env;
    this.stateful = new StatefulStack(this, 'Stateful', {
      env,
      config,
      stackName: `${id}-Stateful`,
      terminationProtection: config.retainData,
    });
    this.network = new NetworkStack(this, 'Network', {
      env,
      config,
      stackName: `${id}-Network`,
      terminationProtection: config.retainData,
    });
    this.engine = new EngineStack(this, 'Engine', {
      env,
      config,
      stackName: `${id}-Engine`,
      vpc: this.network.vpc,
      stateful: this.stateful,
      image: props.engineImage,
    });
    this.functions = new FunctionsStack(this, 'Functions', {
      env,
      config,
      stackName: `${id}-Functions`,
      vpc: this.network.vpc,
      stateful: this.stateful,
    });
    this.alarms = new AlarmsStack(this, 'Alarms', {
      env,
      config,
      stackName: `${id}-Alarms`,
      stateful: this.stateful,
      functions: this.functions,
    });
    Tags.of(this).add('project', 'tradewind');
    Tags.of(this).add('stage', config.stageId);
  }
}
