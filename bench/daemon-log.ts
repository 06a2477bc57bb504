// Picks the reason a daemon failed out of its captured output (pino JSON lines, possibly mixed with plain text),
// so a failed datapath's row carries one readable line rather than a log dump. Pure.

/**
 * The msg of the last error-or-worse line (pino level ≥ 50); else the last plain line mentioning an error; else the
 * last line; null for no output.
 */
export function lastDaemonError(logText: string): string | null {
  const lines = logText.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('--- start'));
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i] as string;
    if (!line.startsWith('{')) continue;
    try {
      const rec = JSON.parse(line) as { level?: unknown; msg?: unknown; err?: { message?: unknown } };
      if (typeof rec.level === 'number' && rec.level >= 50) {
        const msg = typeof rec.msg === 'string' ? rec.msg : '';
        const err = typeof rec.err?.message === 'string' && !msg.includes(rec.err.message) ? `: ${rec.err.message}` : '';
        return `${msg}${err}` || line;
      }
    } catch { /* not JSON after all */ }
  }
  // A crash before the logger existed prints a stack: its "Error: …" line says why, the "at …" lines do not.
  const plain = lines.filter((l) => !l.startsWith('{') && !l.startsWith('at '));
  const errorLine = plain.filter((l) => /error/i.test(l)).pop();
  return errorLine ?? plain.pop() ?? lines.pop() ?? null;
}
