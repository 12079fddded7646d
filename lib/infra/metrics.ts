/**
 * The engine's custom CloudWatch metrics (emitted as EMF by the engine), shared by the alarms
 * and the dashboard here and by the engine's metrics code: one list of names, one namespace.
 * Every metric carries the `Stage` dimension; the heartbeat also carries `Shard`.
 */
export const METRIC_NAMESPACE = 'Tradewind';

export const EngineMetric = {
  /** 1 per heartbeat (every few seconds) while the engine loop is healthy. */
  heartbeat: 'EngineHeartbeat',
  /** One per L2 book resync (sequence gap, checksum mismatch, crossed or stale book). */
  bookResync: 'BookResync',
  /** One per market-data or trading WebSocket disconnect. */
  wsDisconnect: 'WsDisconnect',
  /** One per HTTP 429 / 418 (rate limited / IP banned) from a venue. */
  rateLimited: 'VenueRateLimited',
  /** One per order the venue or the risk gate rejected. */
  orderRejected: 'OrderRejected',
  /** Orders sent, the denominator for the reject rate on the dashboard. */
  orderSent: 'OrderSent',
  /** Today's realized + unrealized loss as a percent of the daily loss limit (0..100+). */
  dailyLossUsedPercent: 'DailyLossUsedPercent',
  /** 1 while the kill switch is set (HALTED by kill), 0 otherwise. */
  killSwitchActive: 'KillSwitchActive',
} as const;

export type EngineMetricName = (typeof EngineMetric)[keyof typeof EngineMetric];
