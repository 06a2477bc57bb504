// The one pino logger: JSON lines on stderr by default (as flanneld logs to stderr), pino-pretty on a TTY.
// Components take a child logger: log.child({ component: 'lease' }).
import pino from 'pino';

export type Logger = pino.Logger;

function makeLogger(): Logger {
  const level = process.env.TSFLANNELD_LOG_LEVEL ?? 'info';
  const pretty = process.env.TSFLANNELD_LOG_FORMAT === 'pretty'
    || (process.env.TSFLANNELD_LOG_FORMAT !== 'json' && process.stderr.isTTY === true);
  if (pretty) {
    return pino({
      level,
      transport: { target: 'pino-pretty', options: { destination: 2, colorize: true, translateTime: 'SYS:HH:MM:ss.l' } },
    });
  }
  // Synchronous writes keep the last lines before an exit in order and on disk.
  return pino({ level, base: { pid: process.pid } }, pino.destination({ dest: 2, sync: true }));
}

export const log: Logger = makeLogger();

/**
 * Node's process warnings become log records, so stderr carries JSON lines only (Node would print them raw).
 * DEP0123 is expected: grpc-js always sets the TLS server name to the etcd endpoint's host, an IP address in most
 * clusters; Node ignores such a name and the certificate is still checked against the IP, so it is logged at debug.
 */
export function routeProcessWarnings(logger: Logger): void {
  process.removeAllListeners('warning');
  const seen = new Set<string>();
  process.on('warning', (w: Error & { code?: string }) => {
    const key = w.code ?? w.message;
    if (seen.has(key)) return; // Node warns once per code; keep that for warnings without one as well
    seen.add(key);
    const fields = { warning: w.name, code: w.code };
    if (w.code === 'DEP0123') logger.debug(fields, `node: ${w.message}`);
    else logger.warn(fields, `node: ${w.message}`);
  });
}
