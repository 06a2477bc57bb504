// A systemd-like NOTIFY_SOCKET for tests: a python3 process binds a unix datagram socket (Node has none) and
// prints one JSON line per datagram, with whether a watched file existed when the datagram arrived.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const SCRIPT = `
import json, os, socket, sys
path, watched = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\\0" + path[1:] if path.startswith("@") else path)
print(json.dumps({"bound": True}), flush=True)
while True:
    data = s.recv(65536)
    print(json.dumps({"data": data.decode("utf-8", "replace"), "watchedExists": os.path.exists(watched)}), flush=True)
`;

export interface NotifyMessage {
  readonly data: string;
  /** Whether the watched file existed when the datagram was received. */
  readonly watchedExists: boolean;
}

export class NotifyListener {
  readonly messages: NotifyMessage[] = [];
  private constructor(readonly socketPath: string, private readonly dir: string, private readonly child: ChildProcess) {}

  /** `abstractName` (e.g. `@tsf-notify-1a2b`) binds an abstract socket instead of a file in a temp dir. */
  static async start(watchedFile: string, abstractName?: string): Promise<NotifyListener> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsf-notify-'));
    const socketPath = abstractName ?? path.join(dir, 'notify.sock');
    const child = spawn('python3', ['-c', SCRIPT, socketPath, watchedFile], { stdio: ['ignore', 'pipe', 'inherit'] });
    const listener = new NotifyListener(socketPath, dir, child);
    await new Promise<void>((resolve, reject) => {
      let buf = '';
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`notify listener exited ${code}`)));
      child.stdout?.on('data', (chunk: Buffer) => {
        buf += chunk.toString();
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = JSON.parse(buf.slice(0, nl)) as { bound?: boolean } & NotifyMessage;
          buf = buf.slice(nl + 1);
          if (line.bound) resolve();
          else listener.messages.push({ data: line.data, watchedExists: line.watchedExists });
        }
      });
    });
    return listener;
  }

  /** The first message containing `needle`, waiting up to timeoutMs. */
  async waitFor(needle: string, timeoutMs = 30_000): Promise<NotifyMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.messages.find((x) => x.data.includes(needle));
      if (m) return m;
      if (Date.now() > deadline) throw new Error(`no ${JSON.stringify(needle)} on ${this.socketPath}; got ${JSON.stringify(this.messages)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(): Promise<void> {
    const pid = this.child.pid;
    if (pid !== undefined && this.child.exitCode === null) {
      const exited = new Promise((r) => this.child.once('exit', r));
      this.child.kill('SIGKILL');
      await exited;
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
