// Progress lines on stderr while the benchmark runs, stamped with the seconds since start.
const started = Date.now();

export function progress(message: string): void {
  const t = ((Date.now() - started) / 1000).toFixed(1).padStart(6);
  process.stderr.write(`[${t}s] ${message}\n`);
}
