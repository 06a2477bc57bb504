// A reload whose exec fails (the program on disk is gone or broken) leaves the daemon as it was: the paused loops
// resume, the kept fds get FD_CLOEXEC back, one line is logged, nothing throws.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import pino from 'pino';
import { registerHandover, reexec } from '../../src/reload/reexec.js';

const cloexec = (fd: number): boolean => (parseInt(/flags:\s+(\d+)/.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1]!, 8) & 0o2000000) !== 0;

test('a failed exec resumes the participants and restores FD_CLOEXEC', async () => {
  const fds = [fs.openSync('/dev/null', 'r'), fs.openSync('/dev/null', 'r'), fs.openSync('/dev/null', 'r')];
  const lines: string[] = [];
  const log = pino({ level: 'info' }, { write: (l: string) => { lines.push(l); } });
  const events: string[] = [];
  const unregister = registerHandover({
    device: 'flannel.1',
    pause: async () => {
      events.push('pause');
      return { device: 'flannel.1', tunFds: [fds[0]!], udpFds: [fds[1]!], sendFds: [fds[2]!], peers: [] };
    },
    resume: () => { events.push('resume'); },
  });
  const execPath = process.execPath;
  process.execPath = '/nonexistent/node';
  try {
    assert.ok(fds.every(cloexec), 'opened with FD_CLOEXEC');
    await reexec(log);
    assert.deepEqual(events, ['pause', 'resume']);
    assert.ok(fds.every(cloexec), 'FD_CLOEXEC is back on the kept fds');
    const failure = lines.map((l) => JSON.parse(l) as { msg: string }).find((r) => /^reload failed/.test(r.msg));
    assert.match(failure?.msg ?? '', /^reload failed, the running daemon carries on: execve \/nonexistent\/node: /);
  } finally {
    process.execPath = execPath;
    unregister();
    for (const fd of fds) fs.closeSync(fd);
  }
});
