/**
 * TradewindFunction: a NodejsFunction with the project's defaults baked in (the Powertools
 * example app pattern), and `bind*` helpers that grant least privilege and set the matching
 * environment variable in one call, so a grant can never drift from the name the code reads.
 */
import { Duration } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat, SourceMapMode } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { NodejsFunctionProps } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { GSI1 } from '#store/dynamo/table.ts';
import * as iam from 'aws-cdk-lib/aws-iam';

/** nodejs24.x; constructed by name when the installed aws-cdk-lib predates the constant. */
export const NODEJS_24: lambda.Runtime =
  (lambda.Runtime as { NODEJS_24_X?: lambda.Runtime }).NODEJS_24_X ??
  new lambda.Runtime('nodejs24.x', lambda.RuntimeFamily.NODEJS, { supportsInlineCode: true });

export interface TradewindFunctionProps {
  /** Path of the handler module, e.g. `functions/control/handler.ts`. */
  readonly entry: string;
  /** Domain name of the function (control, reconcile, alert): used in names and the log group. */
  readonly purpose: string;
  readonly stageId: string;
  /** @default 256 */
  readonly memorySize?: number;
  /** @default 30 seconds */
  readonly timeout?: Duration;
  /** @default 14 days */
  readonly logRetention?: logs.RetentionDays;
  /** Place the function in this VPC's private subnets (egress via the NAT Elastic IP). @default no VPC */
  readonly vpc?: ec2.IVpc;
  /** Plain, non-secret configuration. @default none */
  readonly environment?: Record<string, string>;
  /** @default undefined (unreserved) */
  readonly reservedConcurrentExecutions?: number;
}

export class TradewindFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: TradewindFunctionProps) {
    const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
      logGroupName: `/aws/lambda/tradewind-${props.stageId}-${props.purpose}`,
      retention: props.logRetention ?? logs.RetentionDays.TWO_WEEKS,
    });
    const base: NodejsFunctionProps = {
      functionName: `tradewind-${props.stageId}-${props.purpose}`,
      entry: props.entry,
      handler: 'handler',
      runtime: NODEJS_24,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 256,
      timeout: props.timeout ?? Duration.seconds(30),
      tracing: lambda.Tracing.ACTIVE,
      logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      vpc: props.vpc,
      vpcSubnets: props.vpc ? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS } : undefined,
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: `tradewind-${props.purpose}`,
        POWERTOOLS_METRICS_NAMESPACE: 'Tradewind',
        TRADEWIND_STAGE: props.stageId,
        ...props.environment,
      },
      bundling: {
        format: OutputFormat.ESM,
        target: 'node24',
        minify: true,
        sourceMap: true,
        sourceMapMode: SourceMapMode.DEFAULT,
        sourcesContent: false,
        mainFields: ['module', 'main'],
        // ESM bundles of CommonJS dependencies still call require(): give them one.
        banner:
          "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
        // The Lambda runtime ships AWS SDK v3; bundling ours pins the version we tested with.
        externalModules: [],
      },
    };
    super(scope, id, base);
  }
}

export type TableAccess = 'read' | 'readWrite';

/** Grants `access` on the table (and its indexes) and sets TRADEWIND_TABLE. */
export function bindTable(fn: lambda.Function, table: dynamodb.ITable, access: TableAccess): void {
  grantTable(fn, table, access);
  fn.addEnvironment('TRADEWIND_TABLE', table.tableName);
}

const READ_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:BatchGetItem',
  'dynamodb:Query',
  'dynamodb:ConditionCheckItem',
  'dynamodb:DescribeTable',
];
const WRITE_ACTIONS = [
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:BatchWriteItem',
];

/**
 * Table access without wildcards: the table and exactly the one index the store queries (the
 * built-in grants add `<table>/index/*`). No Scan: no access pattern needs one.
 */
export function grantTable(grantee: iam.IGrantable, table: dynamodb.ITable, access: TableAccess): void {
  iam.Grant.addToPrincipal({
    grantee,
    actions: access === 'read' ? READ_ACTIONS : [...READ_ACTIONS, ...WRITE_ACTIONS],
    resourceArns: [table.tableArn, `${table.tableArn}/index/${GSI1}`],
  });
}

export type QueueAccess = 'send' | 'consume';

/** Grants send or consume on a queue and sets `<envName>` to its URL. */
export function bindQueue(
  fn: lambda.Function,
  queue: sqs.IQueue,
  access: QueueAccess,
  envName: string,
): void {
  if (access === 'send') queue.grantSendMessages(fn);
  else queue.grantConsumeMessages(fn);
  fn.addEnvironment(envName, queue.queueUrl);
}

/**
 * Grants read on exactly one secret and sets `<envName>` to its ARN. The value is fetched at run
 * time and cached (lib/store SecretStore), never placed in the environment.
 */
export function bindSecret(fn: lambda.Function, secret: secretsmanager.ISecret, envName: string): void {
  secret.grantRead(fn);
  fn.addEnvironment(envName, secret.secretArn);
}

/** `TRADEWIND_SECRET_BINANCE_FUTURES_CANCEL_ONLY`: the env var naming one venue key's secret ARN. */
export function secretEnvName(venue: string, purpose: string): string {
  return `TRADEWIND_SECRET_${venue}_${purpose}`.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}
