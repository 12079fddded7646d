/**
 * Every cdk-nag (AwsSolutions) acknowledgement in the app, each with its written reason, in one
 * place so they can be reviewed and listed together. cdk-nag v3 acknowledges through CDK's
 * `Validations.of(construct).acknowledge`; findings with a qualifier (IAM4/IAM5) are
 * acknowledged one finding at a time, never by rule.
 */
import { Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

export const REASONS = {
  secretRotation:
    'Venue API keys and the Slack webhook are issued by the venue/Slack and rotated there by an operator; ' +
    'Secrets Manager has no rotation function that can create a venue API key.',
  taskExecutionEcrAuth:
    'ecr:GetAuthorizationToken has no resource-level permissions; AWS requires Resource "*" for it.',
  ecsEnvironment:
    'The container environment holds only non-secret configuration (stage, shard, symbols, resource names); ' +
    'every credential is injected from Secrets Manager through the secrets field.',
  lambdaBasicExecution:
    'AWSLambdaBasicExecutionRole only allows writing this function’s logs; it is the AWS-maintained minimum for Lambda.',
  lambdaVpcExecution:
    'AWSLambdaVPCAccessExecutionRole is the AWS-maintained minimum for creating the ENIs of a VPC function ' +
    '(ec2:CreateNetworkInterface has no resource-level scoping).',
  xrayWildcard:
    'X-Ray PutTraceSegments/PutTelemetryRecords do not support resource-level permissions; AWS requires "*".',
  apiGatewayCloudWatchRole:
    'AmazonAPIGatewayPushToCloudWatchLogs is the AWS-maintained policy API Gateway needs to write access logs.',
  apiNoCognito:
    'Every method uses AWS_IAM authorization (SigV4 by operators’ IAM identities); there are no end users for Cognito.',
  apiNoWaf:
    'The API is IAM-authorized and used by a handful of operators; unsigned requests are rejected before ' +
    'the integration, and WAF would add cost without a threat it mitigates here.',
  queueDlqItself:
    'This queue is itself a dead-letter queue; a DLQ of a DLQ would only hide messages further.',
} as const;

export type ReasonKey = keyof typeof REASONS;

/** Acknowledges rule `id` (e.g. `AwsSolutions-IAM5[Action::xray:*]`) on `scope` and below. */
export function acknowledge(scope: IConstruct, id: string, reason: ReasonKey): void {
  Validations.of(scope).acknowledge({ id, reason: REASONS[reason] });
}

export function suppressSecretRotation(secret: IConstruct): void {
  acknowledge(secret, 'AwsSolutions-SMG4', 'secretRotation');
}

/** On the task definition only (not its task role, which must stay free of wildcards). */
export function suppressEngineTaskDefinition(taskDef: IConstruct, executionRole: IConstruct): void {
  acknowledge(taskDef.node.defaultChild ?? taskDef, 'AwsSolutions-ECS2', 'ecsEnvironment');
  acknowledge(executionRole, 'AwsSolutions-IAM5[Resource::*]', 'taskExecutionEcrAuth');
}

/** For TradewindFunction roles: the managed log policy, VPC ENI policy and X-Ray. */
export function suppressFunctionRole(fn: IConstruct): void {
  acknowledge(
    fn,
    'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
    'lambdaBasicExecution',
  );
  acknowledge(
    fn,
    'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
    'lambdaVpcExecution',
  );
  acknowledge(fn, 'AwsSolutions-IAM5[Resource::*]', 'xrayWildcard');
}

export function suppressApi(api: IConstruct): void {
  acknowledge(
    api,
    'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
    'apiGatewayCloudWatchRole',
  );
  acknowledge(api, 'AwsSolutions-COG4', 'apiNoCognito');
  acknowledge(api, 'AwsSolutions-APIG3', 'apiNoWaf');
}

/** Lists every acknowledgement in the tree below `scope` (for the tests and the closing note). */
export function listAcknowledgements(scope: IConstruct): Array<{ path: string; id: string; reason: string }> {
  const out: Array<{ path: string; id: string; reason: string }> = [];
  for (const c of scope.node.findAll()) {
    for (const entry of c.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY || !entry.data) continue;
      for (const [k, reason] of Object.entries(entry.data as Record<string, string>)) {
        out.push({ path: c.node.path, id: k.replace(/^annotation::/i, ''), reason });
      }
    }
  }
  return out;
}
