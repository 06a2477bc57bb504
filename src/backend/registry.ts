// Maps the config's Backend.Type (or --backend) to a backend implementation.
import type { Backend, BackendContext, BackendFactory } from './backend.js';

const factories = new Map<string, BackendFactory>();

export function registerBackend(type: string, factory: BackendFactory): void {
  factories.set(type, factory);
}

export function supportedBackends(): string[] {
  return [...factories.keys()].sort();
}

/** Returns null for an unknown type; the caller reports it with the list of supported ones. */
export function createBackend(type: string, ctx: BackendContext): Backend | null {
  const factory = factories.get(type.toLowerCase());
  return factory ? factory(ctx) : null;
}
