// Maps the config's Backend.Type (or --backend) to a backend implementation, and hands it out behind its driver.
import type { Backend, BackendContext, BackendFactory, BackendSettings } from './backend.js';
import { BackendDriver } from './driver.js';
import type { PeerUpdate } from './peer-updates.js';

const factories = new Map<string, BackendFactory>();

export function registerBackend(type: string, factory: BackendFactory): void {
  factories.set(type, factory);
}

export function supportedBackends(): string[] {
  return [...factories.keys()].sort();
}

/** A backend whose every call (and its own timers' work) runs through one BackendDriver. */
export interface DrivenBackend extends Backend {
  /** Queues a peer update; returns at once. */
  update(update: PeerUpdate): void;
  /** Resolves when everything queued so far has run. */
  drain(): Promise<void>;
}

export type BaseBackendContext = Omit<BackendContext, 'work'>;

/** Builds a backend with a driver of its own and returns the driven face of it (what the daemon and tests use). */
export function driveBackend(base: BaseBackendContext, build: (ctx: BackendContext) => Backend): DrivenBackend {
  const driver = new BackendDriver(null, base.log);
  const backend = build({ ...base, work: driver });
  driver.attach(backend);
  return drivenFace(backend, driver);
}

function drivenFace(b: Backend, d: BackendDriver): DrivenBackend {
  return {
    claims: () => b.claims(),
    register: () => d.run('register', () => b.register()),
    start: (own) => d.run('start', () => b.start(own)),
    resetPeers: (peers) => d.run('resetPeers', () => b.resetPeers(peers)),
    handleEvents: (events) => d.run('handleEvents', () => b.handleEvents(events)),
    stop: () => d.run('stop', () => b.stop()),
    teardown: () => d.run('teardown', () => b.teardown()),
    counters: () => b.counters(),
    update: (u) => d.update(u),
    drain: () => d.drain(),
  };
}

/** Returns null for an unknown type; the caller reports it with the list of supported ones. */
export function createBackend(type: string, base: BaseBackendContext, settings: BackendSettings = {}): DrivenBackend | null {
  const factory = factories.get(type.toLowerCase());
  return factory ? driveBackend(base, (ctx) => factory(ctx, settings)) : null;
}
