// Bare network namespaces for tests that need no testbed (a rule set or a route applied in isolation). Each one is
// written to a leftovers ledger before it exists, so a crashed run is swept by the next, and all are removed by
// name after the file's tests, pass or fail.
import { randomBytes } from 'node:crypto';
import { after } from 'node:test';
import { dropLedger, newLedger, saveLedger, type Ledger } from './leftovers.js';
import { createNetns, removeNetns } from './netns.js';

/**
 * Call at a test file's top level: returns a function making a fresh namespace `<nsPrefix>-<what>-<tag>` (the tag is
 * random per file run) and registers their removal in `after`. `ledgerName` names the ledger (`<ledgerName>-<tag>`).
 */
export function scratchNetns(nsPrefix: string, ledgerName: string): (what: string) => Promise<string> {
  const tag = randomBytes(3).toString('hex');
  let ledger: Ledger | null = null;
  const namespaces: string[] = [];
  after(async () => {
    for (const ns of namespaces) await removeNetns(ns).catch(() => undefined);
    if (ledger) dropLedger(ledger.tag);
  });
  return async (what) => {
    const ns = `${nsPrefix}-${what}-${tag}`;
    ledger ??= newLedger(`${ledgerName}-${tag}`);
    ledger.netns.push(ns);
    saveLedger(ledger);
    namespaces.push(ns);
    await createNetns(ns);
    return ns;
  };
}
