// One daemon per subnet file. Two daemons given the same --subnet-file would overwrite each other's FLANNEL_SUBNET,
// and Docker or CNI on that host would hand out addresses from the other daemon's subnet. A lock file next to it
// (`<subnet-file>.lock`) names the holder by PID and process start time; a holder that is gone (a crash, SIGKILL)
// leaves a stale lock that the next daemon takes over, so a restart is never blocked.
import * as fs from 'node:fs';
import * as path from 'node:path';

export class SubnetFileInUseError extends Error {
  override readonly name = 'SubnetFileInUseError';
}

export interface SubnetFileLock {
  readonly path: string;
  /** Removes the lock if it is still ours. */
  release(): void;
}

/** Start time of a process in clock ticks since boot (field 22 of /proc/<pid>/stat); null when it does not exist. */
function startTimeOf(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Count from the ")" that closes the command name, which may contain spaces.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function holderOf(text: string): { pid: number; start: string } | null {
  const [pid, start] = text.trim().split(/\s+/);
  const n = Number(pid);
  return Number.isInteger(n) && n > 0 && start ? { pid: n, start } : null;
}

/**
 * Takes `<file>.lock` for this process. Throws SubnetFileInUseError (one line naming the flag, the file, the other
 * PID and the fix) while another live process holds it.
 */
export function lockSubnetFile(file: string): SubnetFileLock {
  const lockPath = `${file}.lock`;
  fs.mkdirSync(path.dirname(lockPath), { recursive: true, mode: 0o755 });
  const mine = `${process.pid} ${startTimeOf(process.pid) ?? '0'}\n`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      fs.writeFileSync(lockPath, mine, { flag: 'wx', mode: 0o644 });
      return {
        path: lockPath,
        release: () => {
          try {
            if (fs.readFileSync(lockPath, 'utf8') === mine) fs.rmSync(lockPath, { force: true });
          } catch {
            // already gone
          }
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let text = '';
    try {
      text = fs.readFileSync(lockPath, 'utf8');
    } catch {
      continue; // removed meanwhile: try again
    }
    const holder = holderOf(text);
    if (holder && holder.pid !== process.pid && startTimeOf(holder.pid) === holder.start) {
      throw new SubnetFileInUseError(`--subnet-file ${file} is in use by another tsflanneld (pid ${holder.pid}, `
        + `lock ${lockPath}): give each daemon its own --subnet-file, or stop the other one first`);
    }
    // The holder is gone (or the lock is unreadable): stale. Remove it only if nobody replaced it meanwhile.
    try {
      if (fs.readFileSync(lockPath, 'utf8') === text) fs.rmSync(lockPath, { force: true });
    } catch {
      // removed meanwhile
    }
  }
  throw new SubnetFileInUseError(`--subnet-file ${file}: cannot take the lock ${lockPath} (another daemon keeps taking it)`);
}
