// systemd's file-descriptor store, emulated for tests that have no systemd: a python3 process in a host's namespace
// binds an abstract NOTIFY_SOCKET, keeps the fds sent with FDSTORE=1 under their FDNAME (FDSTOREREMOVE=1 drops them)
// and prints one JSON line per notification. A daemon started through `launcher()` gets the stored fds as systemd
// passes them on a restart: fd 3 onwards, LISTEN_FDS, LISTEN_PID (its own, as the launcher execs it) and
// LISTEN_FDNAMES. Node has no SCM_RIGHTS, hence python.
import { spawn, type ChildProcess } from 'node:child_process';
import { killPids } from './netns.js';

const STORE = `
import json, os, socket, sys, threading
name = sys.argv[1]
store, lock = {}, threading.Lock()
def serve():
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind("\\0" + name + "-get")
    srv.listen(4)
    while True:
        c, _ = srv.accept()
        with lock:
            names = list(store)
            data = json.dumps(names).encode()
            if names:
                socket.send_fds(c, [data], [store[n] for n in names])
            else:
                c.sendall(data)
        c.close()
threading.Thread(target=serve, daemon=True).start()
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\\0" + name)
print(json.dumps({"bound": True}), flush=True)
while True:
    msg, fds, _, _ = socket.recv_fds(s, 65536, 64)
    text = msg.decode("utf-8", "replace")
    kv = dict(l.split("=", 1) for l in text.split("\\n") if "=" in l)
    with lock:
        if kv.get("FDSTOREREMOVE") == "1" and kv.get("FDNAME") in store:
            os.close(store.pop(kv["FDNAME"]))
        if kv.get("FDSTORE") == "1" and len(fds) == 1 and "FDNAME" in kv:
            if kv["FDNAME"] in store:
                os.close(store.pop(kv["FDNAME"]))
            store[kv["FDNAME"]] = fds[0]
        else:
            for fd in fds:
                os.close(fd)
    print(json.dumps({"data": text, "fds": len(fds)}), flush=True)
`;

const LAUNCH = `
import fcntl, json, os, socket, sys
c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
c.connect("\\0" + sys.argv[1] + "-get")
msg, fds, _, _ = socket.recv_fds(c, 65536, 64)
c.close()
names = json.loads(msg.decode() or "[]")
high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 200) for fd in fds]
for fd in fds:
    os.close(fd)
for i, fd in enumerate(high):
    os.dup2(fd, 3 + i, inheritable=True)
    os.close(fd)
env = dict(os.environ, NOTIFY_SOCKET="@" + sys.argv[1])
if names:
    env.update(LISTEN_FDS=str(len(names)), LISTEN_PID=str(os.getpid()), LISTEN_FDNAMES=":".join(names))
os.execvpe(sys.argv[2], sys.argv[2:], env)
`;

export interface StoreMessage {
  readonly data: string;
  readonly fds: number;
}

export class FdStore {
  readonly messages: StoreMessage[] = [];
  private constructor(private readonly name: string, private readonly child: ChildProcess) {}

  /** A store bound in `netns` under the abstract name `name` (unique per test). */
  static async start(netns: string, name: string): Promise<FdStore> {
    const child = spawn('ip', ['netns', 'exec', netns, 'python3', '-c', STORE, name], { stdio: ['ignore', 'pipe', 'inherit'] });
    const store = new FdStore(name, child);
    await new Promise<void>((resolve, reject) => {
      let buf = '';
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`fd store exited ${code}`)));
      child.stdout?.on('data', (chunk: Buffer) => {
        buf += chunk.toString();
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = JSON.parse(buf.slice(0, nl)) as { bound?: boolean } & StoreMessage;
          buf = buf.slice(nl + 1);
          if (line.bound) resolve();
          else store.messages.push({ data: line.data, fds: line.fds });
        }
      });
    });
    return store;
  }

  /** The command prefix (for Testbed.startDaemon's launcher) that starts node with the stored fds, as systemd would. */
  launcher(): string[] {
    return ['python3', '-c', LAUNCH, this.name];
  }

  async stop(): Promise<void> {
    if (this.child.pid !== undefined && this.child.exitCode === null) await killPids([this.child.pid]);
  }
}
