/** `tradewind start`: paper trading on the embedded simulator — the engine arrives with the trading core. */
export const startHelp = `Usage: tradewind start

Paper-trades locally on the embedded exchange simulator. Not built yet: it arrives with the trading
core. Today: 'tradewind sim' runs the simulator, 'tradewind record --sim' records from it and
'tradewind replay' rebuilds books from recordings.`;

export function startCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${startHelp}\n`);
    return Promise.resolve(0);
  }
  process.stderr.write(
    "tradewind start: the paper-trading engine is not built yet; try 'tradewind sim', 'tradewind record --sim' or 'tradewind replay'\n",
  );
  return Promise.resolve(1);
}
