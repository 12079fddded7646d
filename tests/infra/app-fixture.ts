/**
 * Builds both stages the way bin/app.ts does, without bundling the functions (bundling-stacks
 * context empty) or staging the engine image (a registry image), so the infra tests stay fast.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import type { StageConfig } from '#infra/config.ts';
import { stageConfigs } from '#infra/config.ts';
import { TradewindStage } from '#infra/tradewind-stage.ts';

export type Json = string | number | boolean | null | Json[] | { [k: string]: Json };

export interface CfnResourceJson {
  readonly stack: string;
  readonly id: string;
  readonly type: string;
  readonly props: Json;
  readonly deletionPolicy: string | undefined;
}

/** `get(x, 'A', 0, 'B')`: x.A[0].B, or undefined where the path does not exist. */
export function get(value: Json | undefined, ...path: Array<string | number>): Json | undefined {
  let cur: Json | undefined = value;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = Array.isArray(cur) ? (typeof key === 'number' ? cur[key] : undefined) : cur[String(key)];
  }
  return cur;
}

export function asArray(value: Json | undefined): Json[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

export interface BuiltStage {
  readonly config: StageConfig;
  readonly stage: TradewindStage;
  readonly stacks: readonly Stack[];
  readonly templates: ReadonlyMap<string, Template>;
  /** All resources of all the stage's stacks, by logical id (stack-prefixed). */
  readonly resources: readonly CfnResourceJson[];
}

export function buildStages(): { app: App; stages: BuiltStage[] } {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stages = stageConfigs().map((config) => {
    const stage = new TradewindStage(app, config.stage, {
      config,
      engineImage: ecs.ContainerImage.fromRegistry('public.ecr.aws/docker/library/node:24-slim'),
    });
    const stacks = stage.node.children.filter((c): c is Stack => Stack.isStack(c));
    const templates = new Map(stacks.map((s) => [s.node.id, Template.fromStack(s)] as const));
    const resources = [...templates].flatMap(([stack, t]) =>
      Object.entries(
        (
          t.toJSON() as {
            Resources: Record<string, { Type: string; Properties?: Json; DeletionPolicy?: string }>;
          }
        ).Resources,
      ).map(([id, raw]) => ({
        stack,
        id,
        type: raw.Type,
        props: raw.Properties ?? {},
        deletionPolicy: raw.DeletionPolicy,
      })),
    );
    return { config, stage, stacks, templates, resources };
  });
  return { app, stages };
}
