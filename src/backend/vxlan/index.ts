// Registers the `vxlan` backend: the config's vxlan keys are read once here, then --vxlan-datapath picks the
// kernel VXLAN device or the userspace (TUN) datapath. Both speak the same wire format and publish the same lease.
import type { Backend, BackendContext, BackendSettings } from '../backend.js';
import { registerBackend } from '../registry.js';
import { parseVxlanConfig, type VxlanConfig } from './config.js';
import { createKernelVxlanBackend } from './kernel.js';
import { KernelVxlanV6OnlyBackend } from './kernel-v6-only.js';

type UserspaceFactory = (ctx: BackendContext, config: VxlanConfig, settings: VxlanSettings) => Backend;
type VxlanSettings = NonNullable<BackendSettings['vxlan']>;

/** Without --vxlan-datapath / --vxlan-busy-poll (tests driving the backend directly): the options' defaults. */
const DEFAULT_SETTINGS: VxlanSettings = { datapath: 'userspace' };

/**
 * Loaded on demand: the userspace datapath pulls in the native TUN addon and its worker, which the kernel datapath
 * must not depend on (a host running `--vxlan-datapath kernel` works even where the addon was not built).
 */
function loadUserspaceFactory(): UserspaceFactory {
  let mod: { createUserspaceVxlanBackend?: UserspaceFactory };
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    mod = require('./userspace.js') as typeof mod;
  } catch (err) {
    throw new Error(`the userspace vxlan datapath is not available in this build (${(err as Error).message.split('\n')[0]}):`
      + ' run with --vxlan-datapath kernel');
  }
  if (typeof mod.createUserspaceVxlanBackend !== 'function') {
    throw new Error('the userspace vxlan datapath is not available in this build: run with --vxlan-datapath kernel');
  }
  return mod.createUserspaceVxlanBackend;
}

export function createVxlanBackend(ctx: BackendContext, all: BackendSettings): Backend {
  const config = parseVxlanConfig(ctx.network.backend.raw);
  const settings = all.vxlan ?? DEFAULT_SETTINGS;
  // The userspace factory serves IPv6-only networks too (userspace.ts).
  if (!ctx.network.enableIPv4 && settings.datapath === 'kernel') return new KernelVxlanV6OnlyBackend(ctx, config);
  return settings.datapath === 'kernel'
    ? createKernelVxlanBackend(ctx, config) : loadUserspaceFactory()(ctx, config, settings);
}

registerBackend('vxlan', createVxlanBackend);
