// `perf script -F comm,tid,cpu,time,event,trace -i <PING_TRACE file> | node dist/bench/ping-timeline-main.js`:
// prints the hop table of ping-timeline.ts for the trace on stdin.
import readline from 'node:readline';
import { followPings, hopTable, mainPing, parseTraceLine, type TraceEvent } from './ping-timeline.js';

async function main(): Promise<void> {
  const events: TraceEvent[] = [];
  for await (const line of readline.createInterface({ input: process.stdin, crlfDelay: Infinity })) {
    const e = parseTraceLine(line);
    if (e !== null) events.push(e);
  }
  const ping = mainPing(events);
  const text = ping === null ? 'no ping in the trace' : hopTable(followPings(events, ping.tid), ping.sent);
  process.stdout.write(`${text}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`ping-timeline: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
