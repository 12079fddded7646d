/**
 * `npm run bench`: what it costs to keep a Binance USD-M book and read its top-5 imbalance, per
 * depth message, against JSON.parse alone (the floor), ccxt's OrderBook and a naive decimal.js book.
 *
 *   node bench/book-bench.ts [--messages N] [--seed S] [--rounds R] [--naive-messages M] [--json]
 *
 * Every contender gets the same raw frame strings from one seeded stream (bench/depth-stream.ts),
 * turns each into its book itself (Tradewind as its live client does: the feed's text decoder,
 * JSON.parse only for frames the decoder leaves; the others JSON.parse every frame) and reads the
 * imbalance after each one; the imbalances are summed and the sums
 * compared across contenders, so all do the same, correct work and none of it is dead code. Each
 * contender is warmed up, then timed over several rounds (contender order rotates per round, the
 * heap is collected before each timed run) and the median round is reported. The naive book sorts
 * ~1000 levels per read and is over 20× slower than the others, so it runs on the stream's first
 * `--naive-messages` frames only; its ns/message is measured the same way.
 */
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Contender } from './contenders.ts';
import { ccxt, jsonParseFloor, naive, tradewind } from './contenders.ts';
import { generateDepthStream } from './depth-stream.ts';
import { formatEngineBench, runEngineBench } from './engine-bench.ts';

const GOAL_RATIO_TO_FLOOR = 1.5;
const GOAL_SPEEDUP_VS_CCXT = 3;

interface Options {
  messages: number;
  seed: number;
  rounds: number;
  naiveMessages: number;
  json: boolean;
}

function positiveInt(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text) || Number(text) < 1 || !Number.isSafeInteger(Number(text)))
    throw new Error(`--${name} ${JSON.stringify(text)} is not a positive integer`);
  return Number(text);
}

function seedArg(text: string | undefined): number {
  if (text === undefined) return 1;
  if (!/^\d+$/.test(text) || Number(text) > 0xffffffff)
    throw new Error(`--seed ${JSON.stringify(text)} is not an integer in 0..4294967295`);
  return Number(text);
}

function options(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      messages: { type: 'string' },
      seed: { type: 'string' },
      rounds: { type: 'string' },
      'naive-messages': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  const messages = positiveInt('messages', values.messages, 15_000);
  return {
    messages,
    seed: seedArg(values.seed),
    rounds: positiveInt('rounds', values.rounds, 7),
    naiveMessages: Math.min(messages, positiveInt('naive-messages', values['naive-messages'], 2_000)),
    json: values.json,
  };
}

/** A full collection before each timed run, so no contender pays for another's garbage. */
const collect: () => void = (() => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as unknown;
  return typeof gc === 'function' ? (gc as () => void) : () => undefined;
})();

function progress(text: string): void {
  process.stderr.write(`${text}\n`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** One timed run over frames [0, count): ns per message and the run's checksum. */
function timeRun(c: Contender, frames: readonly string[], count: number): { ns: number; sum: number } {
  c.prepare();
  collect();
  const t0 = process.hrtime.bigint();
  const sum = c.run(frames, 0, count);
  const t1 = process.hrtime.bigint();
  c.verify();
  return { ns: Number(t1 - t0) / count, sum };
}

function sameSum(a: number, b: number): boolean {
  return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
}

function fmt(ns: number): string {
  return ns >= 10_000 ? `${(ns / 1000).toFixed(1)} µs` : `${ns.toFixed(0)} ns`;
}

async function main(): Promise<void> {
  const opts = options(process.argv.slice(2));
  progress(`generating ${opts.messages} depth frames (seed ${opts.seed})…`);
  const stream = generateDepthStream({ messages: opts.messages, seed: opts.seed });
  const frames = stream.frames;
  const avgBytes = Math.round(frames.reduce((n, f) => n + f.length, 0) / frames.length);

  const floor = jsonParseFloor();
  const tw = tradewind(stream);
  const cx = ccxt(stream);
  const nv = naive(stream);
  const main3 = [floor, tw, cx];

  // One untimed round at full length: the JIT settles and the heap grows to its working size (a
  // short warm-up left the first timed round ~2× slow).
  progress('warming up…');
  for (const c of main3) timeRun(c, frames, opts.messages);
  timeRun(nv, frames, Math.min(opts.naiveMessages, 300));

  const samples = new Map<Contender, number[]>(main3.map((c) => [c, []]));
  const sums = new Map<Contender, number>();
  for (let r = 0; r < opts.rounds; r++) {
    const line: string[] = [];
    for (let k = 0; k < main3.length; k++) {
      const c = main3[(r + k) % main3.length] as Contender;
      const { ns, sum } = timeRun(c, frames, opts.messages);
      samples.get(c)?.push(ns);
      sums.set(c, sum);
      line.push(`${c.name} ${fmt(ns)}`);
    }
    progress(`round ${r + 1}/${opts.rounds}: ${line.join(', ')}`);
  }
  const naiveRounds = Math.max(1, Math.min(3, opts.rounds));
  const naiveSamples: number[] = [];
  let naiveSum = NaN;
  for (let r = 0; r < naiveRounds; r++) {
    const { ns, sum } = timeRun(nv, frames, opts.naiveMessages);
    naiveSamples.push(ns);
    naiveSum = sum;
    progress(`naive round ${r + 1}/${naiveRounds} (${opts.naiveMessages} frames): ${fmt(ns)}`);
  }

  // Same work, same answers: the imbalance sums must agree (floats vs exact lots: to rounding).
  const twSum = sums.get(tw) as number;
  const cxSum = sums.get(cx) as number;
  if (!sameSum(twSum, cxSum)) throw new Error(`imbalance sums differ: Tradewind ${twSum}, ccxt ${cxSum}`);
  const twPrefix = timeRun(tw, frames, opts.naiveMessages).sum;
  if (!sameSum(twPrefix, naiveSum))
    throw new Error(`imbalance sums differ: Tradewind ${twPrefix}, naive ${naiveSum}`);

  const floorNs = median(samples.get(floor) as number[]);
  const twNs = median(samples.get(tw) as number[]);
  const cxNs = median(samples.get(cx) as number[]);
  const nvNs = median(naiveSamples);
  const ratioToFloor = twNs / floorNs;
  const speedupVsCcxt = cxNs / twNs;
  const result = {
    messages: opts.messages,
    naiveMessages: opts.naiveMessages,
    seed: opts.seed,
    rounds: opts.rounds,
    levelsPerSide: 20,
    avgFrameBytes: avgBytes,
    floorNsPerMsg: Math.round(floorNs),
    tradewindNsPerMsg: Math.round(twNs),
    ccxtNsPerMsg: Math.round(cxNs),
    naiveNsPerMsg: Math.round(nvNs),
    ratioToFloor: Number(ratioToFloor.toFixed(3)),
    speedupVsCcxt: Number(speedupVsCcxt.toFixed(2)),
    speedupVsNaive: Number((nvNs / twNs).toFixed(1)),
    goals: {
      ratioToFloor: GOAL_RATIO_TO_FLOOR,
      speedupVsCcxt: GOAL_SPEEDUP_VS_CCXT,
      met: ratioToFloor <= GOAL_RATIO_TO_FLOOR && speedupVsCcxt >= GOAL_SPEEDUP_VS_CCXT,
    },
    samplesNsPerMsg: {
      floor: (samples.get(floor) as number[]).map(Math.round),
      tradewind: (samples.get(tw) as number[]).map(Math.round),
      ccxt: (samples.get(cx) as number[]).map(Math.round),
      naive: naiveSamples.map(Math.round),
    },
    checksum: twSum,
    node: process.version,
  };

  // The engine case: the same kind of stream through the whole hot path (decode → book → strategy
  // → risk → order bytes signed and framed), see bench/engine-bench.ts.
  const engine = await runEngineBench({
    messages: Math.min(opts.messages, 5000),
    seed: opts.seed,
    rounds: Math.min(opts.rounds, 3),
    progress: (line) => process.stderr.write(`${line}\n`),
  });
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ ...result, engine })}\n`);
    return;
  }
  const rows: Array<[string, number, string]> = [
    [floor.name, floorNs, ''],
    [tw.name + ' (decode + sync + apply + imbalance)', twNs, `${ratioToFloor.toFixed(2)}× floor`],
    [cx.name, cxNs, `${speedupVsCcxt.toFixed(2)}× Tradewind's time`],
    [`${nv.name}, first ${opts.naiveMessages}`, nvNs, `${(nvNs / twNs).toFixed(0)}× Tradewind's time`],
  ];
  const out = [
    `Binance USD-M depth, ${opts.messages} frames × 20 levels/side (~${avgBytes} B), seed ${opts.seed}, median of ${opts.rounds} rounds, ${process.version}`,
    '',
    ...rows.map(
      ([name, ns, note]) => `  ${name.padEnd(52)} ${Math.round(ns).toString().padStart(7)} ns/msg  ${note}`,
    ),
    '',
    `  Tradewind / floor: ${ratioToFloor.toFixed(2)} (goal ≤ ${GOAL_RATIO_TO_FLOOR})  ` +
      `ccxt / Tradewind: ${speedupVsCcxt.toFixed(2)} (goal ≥ ${GOAL_SPEEDUP_VS_CCXT})  ` +
      (result.goals.met ? 'goals met' : 'GOALS MISSED'),
  ];
  process.stdout.write(`${out.join('\n')}\n\n${formatEngineBench(engine)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`book-bench: ${(err as Error).message.split('\n')[0]}\n`);
  process.exitCode = 1;
});
