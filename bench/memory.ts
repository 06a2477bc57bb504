// A process's resident memory split the way an operator pays for it, from /proc/<pid>/status. Pure.
//  - RssAnon: private memory (heaps, stacks, buffers): what each node pays for this daemon alone;
//  - RssFile: pages of mapped files (the executable, its libraries, an addon): clean, shared with every process that
//    maps the same file, and dropped by the kernel under pressure. Node's own binary puts ~34 MiB here before any
//    line of the daemon runs, a Go binary only the parts of its text it touched;
//  - RssShmem: shared memory (none for these daemons).
// VmRSS is their sum.

export interface ProcMemory {
  readonly rssMb: number;
  readonly anonMb: number | null;
  readonly fileMb: number | null;
}

function fieldKb(statusText: string, name: string): number | null {
  const m = new RegExp(`^${name}:\\s+(\\d+)\\s+kB`, 'm').exec(statusText);
  return m === null ? null : Number(m[1]);
}

/**
 * VmRSS, RssAnon and RssFile in MiB; null when there is no VmRSS (a zombie, a kernel thread). RssAnon/RssFile are
 * null on kernels before 4.5, which do not have them.
 */
export function parseProcMemory(statusText: string): ProcMemory | null {
  const rss = fieldKb(statusText, 'VmRSS');
  if (rss === null) return null;
  const mb = (kb: number | null): number | null => (kb === null ? null : kb / 1024);
  return { rssMb: rss / 1024, anonMb: mb(fieldKb(statusText, 'RssAnon')), fileMb: mb(fieldKb(statusText, 'RssFile')) };
}
