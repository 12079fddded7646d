/** `tradewind engine`: the engine process as it runs in Fargate (configuration from the environment). */
import { startEngineProcess } from './engine-process.ts';
import { parse } from '#cli/args.ts';

export const engineHelp = `Usage: tradewind engine [--flatten-on-exit]

The trading engine as deployed (one Fargate task per shard). Configured by the environment:
TRADEWIND_STAGE, TRADEWIND_TABLE, TRADEWIND_SHARD, TRADEWIND_VENUE, TRADEWIND_SYMBOLS,
TRADEWIND_CONTROL_QUEUE_URL, TRADEWIND_CONFIG, and the venue key as TRADEWIND_<VENUE>_TRADE_API_KEY /
_API_SECRET (injected from Secrets Manager). Takes the shard's lease (exits if another engine holds
it), journals to DynamoDB, heartbeats, emits metrics, obeys the control queue. SIGTERM stops it
cleanly (orders cancelled); a lost lease stops it at once.`;

export async function engineCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, { 'flatten-on-exit': { type: 'boolean' } });
  if (values.help) {
    process.stdout.write(`${engineHelp}\n`);
    return 0;
  }
  const proc = await startEngineProcess();
  const why = await Promise.race([
    proc.done,
    new Promise<string>((r) => process.once('SIGTERM', () => r('SIGTERM'))),
    new Promise<string>((r) => process.once('SIGINT', () => r('SIGINT'))),
  ]);
  process.stderr.write(`engine process: stopping (${why})\n`);
  await proc.stop(values['flatten-on-exit'] === true);
  return why.startsWith('SIG') ? 0 : 3;
}
