// Runs src/backend/kit/keeper.ts inside the current namespace over bridges (no dummy module needed) named in argv[2]
// (comma list): the first as the keeper's `device`, the others as `moreDevices`, as a dual-stack userspace backend
// keeps flannel.<VNI> and flannel-v6.<VNI>. Each recreate() adds the bridge again. Prints JSON lines:
// `{"ready":true}`, then `{"recreated":"<name>"}` per re-creation and `{"resync":n}` per resync pass; logs to stderr.
import { execFileSync } from 'node:child_process';
import pino from 'pino';
import { Keeper, type KeptDevice } from '../../../src/backend/kit/keeper.js';
import { getLinkByName } from '../../../src/netlink/links.js';

const names = (process.argv[2] ?? '').split(',').filter((n) => n !== '');
const log = pino({ level: 'debug' }, pino.destination({ dest: 2, sync: true }));
const print = (o: unknown): boolean => process.stdout.write(`${JSON.stringify(o)}\n`);
let chain: Promise<void> = Promise.resolve();
const work = {
  post(what: string, run: () => Promise<void>): void {
    chain = chain.then(run).catch((err: unknown) => log.error(`${what} failed: ${(err as Error).message}`));
  },
};
const indexes = new Map<string, number | null>();
let resyncs = 0;

async function add(name: string): Promise<void> {
  execFileSync('ip', ['link', 'add', name, 'type', 'bridge']);
  indexes.set(name, (await getLinkByName(name))?.index ?? null);
}

async function main(): Promise<void> {
  for (const n of names) await add(n);
  const kept = names.map((name): KeptDevice => ({
    name, index: () => indexes.get(name) ?? null, backoffMinMs: 50, backoffMaxMs: 1000, lostMessage: `${name} was deleted`,
    recreate: async () => {
      await add(name);
      print({ recreated: name });
    },
  }));
  const keeper = new Keeper({ work, log, everyMs: 60_000, device: kept[0]!, moreDevices: kept.slice(1),
    resync: async () => { print({ resync: ++resyncs }); return true; } });
  keeper.start();
  // The keeper holds nothing open (its monitor and timers are unref'd, as in the daemon): this keeps the helper up.
  const alive = setInterval(() => undefined, 60_000);
  process.on('SIGTERM', () => {
    clearInterval(alive);
    keeper.stop();
    process.exit(0);
  });
  print({ ready: true });
}

void main().catch((err: unknown) => {
  log.error((err as Error).message);
  process.exit(1);
});
