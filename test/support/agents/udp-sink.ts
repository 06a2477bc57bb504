// Runs inside a namespace: counts the UDP datagrams arriving at <addr>:<port> by payload (the injector's tags).
//   node udp-sink.js <addr> <port>     prints `ready`; stdin `count` prints {"<tag>": n, ...}; stdin EOF ends it
import * as dgram from 'node:dgram';
import * as readline from 'node:readline';

const [addr, port] = process.argv.slice(2);
const counts: Record<string, number> = {};
const sock = dgram.createSocket('udp4');
sock.on('message', (msg) => {
  const tag = msg.toString('latin1');
  counts[tag] = (counts[tag] ?? 0) + 1;
});
sock.bind(Number(port), addr, () => process.stdout.write('ready\n'));
const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  if (line === 'count') process.stdout.write(`${JSON.stringify(counts)}\n`);
});
rl.on('close', () => sock.close());
