#!/usr/bin/env node
/** The Tradewind command line: `tradewind <command> [options]`, `--help` on every command. */
import { DataError } from '#core/errors.ts';
import { UsageError } from '#cli/args.ts';
import { engineCommand, engineHelp } from '../fargate/engine-command.ts';
import { recordCommand, recordHelp } from '#cli/record-command.ts';
import { replayCommand, replayHelp } from '#cli/replay-command.ts';
import { simCommand, simHelp } from '#cli/sim-command.ts';
import { startCommand, startHelp } from '#cli/start-command.ts';

interface Command {
  readonly summary: string;
  readonly help: string;
  readonly run: (argv: string[]) => Promise<number>;
}

const commands: Record<string, Command> = {
  start: { summary: 'paper-trade locally (not built yet)', help: startHelp, run: startCommand },
  sim: { summary: 'run the local exchange simulator', help: simHelp, run: simCommand },
  engine: {
    summary: 'the engine as deployed (Fargate; configured by the environment)',
    help: engineHelp,
    run: engineCommand,
  },
  record: {
    summary: 'record raw venue market data (gzip JSON lines, hourly files)',
    help: recordHelp,
    run: recordCommand,
  },
  replay: {
    summary: 'replay recorded venue traffic through the book sync code',
    help: replayHelp,
    run: replayCommand,
  },
};

const mainHelp = `Usage: tradewind <command> [options]

Tradewind: an open-source crypto trading system with exact L2 books.

Commands:
${Object.entries(commands)
  .map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`)
  .join('\n')}

Run 'tradewind <command> --help' for a command's options.`;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const which = name === 'help' ? rest[0] : undefined;
    process.stdout.write(`${which && commands[which] ? commands[which].help : mainHelp}\n`);
    return 0;
  }
  const cmd = commands[name];
  if (!cmd) throw new UsageError(`unknown command ${JSON.stringify(name)}; try 'tradewind --help'`);
  return cmd.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`tradewind: ${err.message}\n`);
      process.exitCode = 2;
    } else if (err instanceof DataError) {
      process.stderr.write(`tradewind: ${err.message}\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(
        `tradewind: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
      );
      process.exitCode = 70;
    }
  },
);
