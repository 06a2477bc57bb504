// How the config follower drives a watch, against a scripted store (pure orchestration; the real watches are tested
// against etcd in test/integration/config-follow.test.ts): where a broken watch resumes, that an outage is one
// warning however many retries fail, and that a change during a change is read after it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { followConfig, type FollowTiming } from '../../src/config-follow.js';
import type { ConfigRead, ConfigWatchHandlers, LeaseRegistry, RegistryWatch } from '../../src/subnet/registry.js';
import { waitFor } from '../support/proc.js';
import { recordingLogger } from '../support/subnet-fixtures.js';

const FAST: Partial<FollowTiming> = { debounceMs: 1, safetyNetMs: 600_000, retryMs: 5, maxRetryMs: 20 };

class ScriptedStore implements Pick<LeaseRegistry, 'readConfig' | 'watchConfig'> {
  text: string | null = 'a';
  revision = 10;
  down = false;
  readonly watches: Array<{ after: string; handlers: ConfigWatchHandlers; stopped: boolean }> = [];

  async readConfig(): Promise<ConfigRead> {
    if (this.down) throw new Error('etcd is down');
    return { text: this.text, revision: String(this.revision) };
  }
  watchConfig(afterRevision: string, handlers: ConfigWatchHandlers): RegistryWatch {
    const w = { after: afterRevision, handlers, stopped: false };
    this.watches.push(w);
    return { stop: async () => { w.stopped = true; } };
  }
  get live(): { after: string; handlers: ConfigWatchHandlers } {
    return this.watches[this.watches.length - 1]!;
  }
  write(text: string): void {
    this.text = text;
    this.revision++;
    this.live.handlers.changed(String(this.revision));
  }
}

function start(store: ScriptedStore, onChange: (t: string) => Promise<void> = async () => undefined) {
  const rec = recordingLogger('info');
  const seen: string[] = [];
  const f = followConfig({ registry: store, initial: 'a', timing: FAST, log: rec.log,
    onChange: async (t) => { seen.push(t); await onChange(t); } });
  return { rec, seen, stop: () => f.stop() };
}

test('a disconnected watch resumes after the last revision seen; a canceled one after a fresh read', async () => {
  const store = new ScriptedStore();
  const { seen, stop } = start(store);
  await waitFor(() => store.watches.length === 1, { what: 'the first watch' });
  assert.equal(store.live.after, '10');
  store.write('b');
  await waitFor(() => seen.length === 1, { what: 'the change' });
  store.live.handlers.broken('disconnected', new Error('stream lost'));
  await waitFor(() => store.watches.length === 2, { what: 'the resumed watch' });
  assert.equal(store.live.after, '11', 'resumes after the change it saw');
  store.revision = 500; // meanwhile compacted and written elsewhere
  store.live.handlers.broken('canceled', new Error('compacted'));
  await waitFor(() => store.watches.length === 3, { what: 'the watch after the re-read' });
  assert.equal(store.live.after, '500');
  assert.deepEqual(seen, ['b']);
  stop();
});

test('an outage is one warning however many retries fail, and one line when the watch is back', async () => {
  const store = new ScriptedStore();
  const { rec, seen, stop } = start(store);
  await waitFor(() => store.watches.length === 1, { what: 'the first watch' });
  store.down = true;
  store.live.handlers.broken('canceled', new Error('etcd went away'));
  await new Promise((r) => setTimeout(r, 200)); // many retries at 5–20 ms, all failing
  store.down = false;
  store.text = 'c';
  await waitFor(() => store.watches.length === 2, { what: 'the watch after the outage' });
  store.live.handlers.connected?.();
  await waitFor(() => seen.length === 1, { what: 'the config written during the outage' });
  assert.deepEqual(seen, ['c']);
  assert.equal(rec.warnings().filter((m) => m.startsWith('watching the network config stopped')).length, 1);
  assert.equal(rec.messages().filter((m) => m === 'watching the network config again').length, 1);
  stop();
});

test('a change made while one is applied is read after it, one at a time', async () => {
  const store = new ScriptedStore();
  let release!: () => void;
  let active = 0;
  let most = 0;
  const { seen, stop } = start(store, async (t) => {
    active++;
    most = Math.max(most, active);
    if (t === 'b') await new Promise<void>((r) => { release = r; });
    active--;
  });
  await waitFor(() => store.watches.length === 1, { what: 'the first watch' });
  store.write('b');
  await waitFor(() => seen.length === 1, { what: 'the first change' });
  store.write('c');
  store.write('d');
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(seen, ['b'], 'nothing else starts while b is applied');
  release();
  await waitFor(() => seen.length === 2, { what: 'the change after it' });
  assert.deepEqual(seen, ['b', 'd']);
  assert.equal(most, 1);
  stop();
});
