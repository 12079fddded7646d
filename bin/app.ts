#!/usr/bin/env node
/**
 * The CDK app: Staging and Prod from one typed per-stage config (lib/infra/config.ts), with the
 * cdk-nag AwsSolutions pack as a policy-validation plugin, so `cdk synth` fails on any finding
 * that is not acknowledged with a reason (lib/infra/nag-suppressions.ts).
 *
 * Accounts and region come from the environment; without them synth uses placeholders and
 * works offline with no credentials:
 *   TRADEWIND_STAGING_ACCOUNT, TRADEWIND_PROD_ACCOUNT, TRADEWIND_REGION (or CDK_DEFAULT_REGION).
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { stageConfigs } from '#infra/config.ts';
import { TradewindStage } from '#infra/tradewind-stage.ts';

const app = new App();
for (const config of stageConfigs({
  stagingAccount: process.env['TRADEWIND_STAGING_ACCOUNT'],
  prodAccount: process.env['TRADEWIND_PROD_ACCOUNT'],
  region: process.env['TRADEWIND_REGION'] ?? process.env['CDK_DEFAULT_REGION'],
})) {
  const stage = new TradewindStage(app, config.stage, { config });
  // Plugins are per stage: each Stage is its own cloud assembly, validated on its own.
  Validations.of(stage).addPlugins(new AwsSolutionsChecks(stage));
}
app.synth();
