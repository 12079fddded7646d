/**
 * CloudWatch Embedded Metric Format: one JSON line on stdout per flush, which CloudWatch Logs
 * turns into the metrics the alarms watch (names and namespace shared with lib/infra/metrics.ts).
 */
import { EngineMetric, METRIC_NAMESPACE } from '#infra/metrics.ts';

export type MetricName = (typeof EngineMetric)[keyof typeof EngineMetric];

export class EmfMetrics {
  private readonly stage: string;
  private readonly shard: string;
  private readonly counts = new Map<MetricName, number>();
  private readonly out: (line: string) => void;

  constructor(
    stage: string,
    shard: number,
    out: (line: string) => void = (l) => process.stdout.write(`${l}\n`),
  ) {
    this.stage = stage;
    this.shard = String(shard);
    this.out = out;
  }

  count(name: MetricName, n = 1): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + n);
  }

  /** Writes the counters (and the gauges given) as one EMF record and resets the counters. */
  flush(gauges: Partial<Record<MetricName, number>> = {}): void {
    const values: Record<string, number> = { [EngineMetric.heartbeat]: 1, ...gauges };
    for (const [k, v] of this.counts) values[k] = (values[k] ?? 0) + v;
    this.counts.clear();
    const metrics = Object.keys(values).map((Name) => ({
      Name,
      Unit: Name === EngineMetric.dailyLossUsedPercent ? 'Percent' : 'Count',
    }));
    this.out(
      JSON.stringify({
        _aws: {
          Timestamp: Date.now(),
          CloudWatchMetrics: [
            { Namespace: METRIC_NAMESPACE, Dimensions: [['Stage'], ['Stage', 'Shard']], Metrics: metrics },
          ],
        },
        Stage: this.stage,
        Shard: this.shard,
        ...values,
      }),
    );
  }
}
