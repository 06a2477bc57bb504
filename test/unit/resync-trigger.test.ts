// When the iptables rules are looked at: on announced changes, and every period once the announcements are lost.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { log } from '../../src/log.js';
import type { NetfilterWatchHandlers } from '../../src/netlink/netfilter-events.js';
import { delayAfterChange, ResyncTrigger } from '../../src/trafficmngr/resync-trigger.js';
import { waitFor } from '../support/proc.js';

const quiet = log.child({ component: 'test' });
quiet.level = 'silent';

describe('delayAfterChange', () => {
  it('debounces a change, and spaces a look after our own rebuild by a period', () => {
    assert.equal(delayAfterChange(10_000, Number.NEGATIVE_INFINITY, 5000, 100), 100);
    assert.equal(delayAfterChange(10_000, 9000, 5000, 100), 4000);
    assert.equal(delayAfterChange(10_000, 4000, 5000, 100), 100);
  });
});

describe('ResyncTrigger', () => {
  it('looks after a change, never by the clock while watching, and every period once the watch is lost', async () => {
    let handlers: NetfilterWatchHandlers | null = null;
    let closed = 0;
    let looks = 0;
    const t = new ResyncTrigger({ periodMs: 20, safetyMs: 3_600_000, debounceMs: 1,
      watch: (h) => { handlers = h; return { close: () => { closed++; } }; },
      check: async () => { looks++; return false; }, log: quiet });
    t.start();
    assert.equal(t.watching, true);
    handlers!.changed();
    handlers!.changed(); // one burst, one look
    await waitFor(() => looks === 1, { what: 'the look after a change' });
    assert.equal(looks, 1);
    // Lost: a look at once, then one every period; the watch comes back at the next tick.
    const h = handlers!;
    handlers = null;
    h.lost('ENOBUFS');
    assert.equal(t.watching, false);
    await waitFor(() => handlers !== null, { what: 'the watch to be opened again at a period tick' });
    assert.ok(looks >= 2, 'looked after the loss');
    assert.equal(t.watching, true);
    t.stop();
    assert.equal(closed, 1);
  });

  it('looks every period when changes cannot be watched', async () => {
    let looks = 0;
    const t = new ResyncTrigger({ periodMs: 10, safetyMs: 3_600_000, debounceMs: 1,
      watch: () => { throw new Error('EPERM'); }, check: async () => { looks++; return true; }, log: quiet });
    t.start();
    assert.equal(t.watching, false);
    await waitFor(() => looks >= 3, { what: 'periodic looks' });
    t.stop();
  });
});
