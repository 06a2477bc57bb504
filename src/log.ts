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
