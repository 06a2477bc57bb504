// Progress lines on stderr while the benchmark runs, stamped with the seconds since start. Never throws: a closed
// stderr (`npm run bench 2>&1 | head`) must not abort a run halfway and skip its clean-up.
const started = Date.now();
let stderrOpen = true;
process.stderr.on('error', () => { stderrOpen = false; });

export function progress(message: string): void {
  if (!stderrOpen) return;
  const t = ((Date.now() - started) / 1000).toFixed(1).padStart(6);
  try {
    process.stderr.write(`[${t}s] ${message}\n`);
  } catch {
    stderrOpen = false;
  }
}
