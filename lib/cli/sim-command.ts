/** `tradewind sim`: the local exchange simulator on its own, for clients, demos and the recorder. */
import { VENUES } from '#core/instrument.ts';
import { ExchangeSimulator } from '#sim/exchange-sim.ts';
import { intOption, parse } from './args.ts';
import { parseDuration } from './duration.ts';

export const simHelp = `Usage: tradewind sim [--port P] [--seed S] [--duration D]

Runs the local exchange simulator on 127.0.0.1: each venue's public market streams (same JSON
shapes, sequence fields and checksums as the real venue), REST depth snapshots and instrument
metadata, over a seeded synthetic market. Prints each venue's base URLs; Ctrl-C stops it.

Options:
  --port P        listen port (default: any free port)
  --seed S        market seed (default 7): the same seed gives the same market
  --duration D    stop after D (30s, 10m); default: until Ctrl-C
  -h, --help      this help`;

export async function simCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    port: { type: 'string' },
    seed: { type: 'string' },
    duration: { type: 'string' },
  });
  if (values.help) {
    process.stdout.write(`${simHelp}\n`);
    return 0;
  }
  const port = intOption(values.port, 'port', 0, 65535);
  const seed = intOption(values.seed, 'seed', 0, 2 ** 31 - 1);
  const durationMs = parseDuration(values.duration, 'duration');
  const sim = new ExchangeSimulator({
    ...(port !== undefined ? { port } : {}),
    ...(seed !== undefined ? { seed } : {}),
  });
  await sim.start();
  for (const v of VENUES) {
    const { rest, ws } = sim.baseUrl(v);
    const symbols = sim
      .symbols(v)
      .map((s) => s.symbol)
      .join(', ');
    process.stdout.write(`${v.padEnd(16)} rest ${rest}  ws ${ws}  symbols ${symbols}\n`);
  }
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
    if (durationMs !== undefined) setTimeout(resolve, durationMs).unref();
  });
  await sim.stop();
  return 0;
}
