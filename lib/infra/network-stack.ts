/**
 * The VPC the engine and the venue-calling functions run in. All venue traffic leaves through
 * one NAT gateway whose Elastic IP is fixed, so each venue's API key can be IP-allowlisted;
 * the EIP is retained in Prod because replacing it breaks every allowlist at once.
 */
import { CfnOutput, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { StageConfig } from './config.ts';

export interface NetworkStackProps extends StackProps {
  readonly config: StageConfig;
}

export class NetworkStack extends Stack {
  readonly vpc: ec2.Vpc;
  readonly egressIp: ec2.CfnEIP;

  constructor(scope: Construct, id: string, props: NetworkStackProps) {
    super(scope, id, props);
    const { config } = props;
    this.egressIp = new ec2.CfnEIP(this, 'EgressIp', {
      domain: 'vpc',
      tags: [{ key: 'Name', value: `tradewind-${config.stageId}-egress` }],
    });
    this.egressIp.applyRemovalPolicy(config.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY);

    this.vpc = new ec2.Vpc(this, 'Vpc', {
      vpcName: `tradewind-${config.stageId}`,
      maxAzs: 2,
      natGateways: 1,
      natGatewayProvider: ec2.NatProvider.gateway({ eipAllocationIds: [this.egressIp.attrAllocationId] }),
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
      ],
      // Nothing uses the default security group; restricting it would add a custom-resource Lambda.
      restrictDefaultSecurityGroup: false,
    });
    const flowLogs = new logs.LogGroup(this, 'FlowLogs', {
      retention: config.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.vpc.addFlowLog('FlowLog', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogs),
      trafficType: ec2.FlowLogTrafficType.REJECT,
    });

    new CfnOutput(this, 'EgressIpAllocationId', {
      value: this.egressIp.attrAllocationId,
      description: 'Elastic IP allocation of the NAT gateway; allowlist its address at each venue',
    });
    new CfnOutput(this, 'EgressIpAddress', { value: this.egressIp.attrPublicIp });
  }
}
