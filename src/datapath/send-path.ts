// Which way the loops send: 'tunnel-gso' writes one whole VXLAN frame per TUN read (a 64 KiB TSO frame included)
// into a TAP whose virtio header carries UDP-tunnel GSO (Linux ≥ 6.17), and the kernel segments it; 'segment' cuts
// TSO frames into MSS segments in the addon and sends them with UDP GSO (any kernel). 'auto' takes the first where
// the kernel has it. The choice is pure (selectSendPath); the probe is the TAP's set-up (tunnel-tap.ts).

export const SEND_PATH_CHOICES = ['auto', 'tunnel-gso', 'segment'] as const;
export type SendPathChoice = (typeof SEND_PATH_CHOICES)[number];
export type SendPath = 'tunnel-gso' | 'segment';

/** Marks the FORWARD rules of the tunnel-gso TAPs, so that a later process (or `doctor`) knows them. */
export const TUNNEL_GSO_RULE_COMMENT = 'tsflanneld tunnel-gso send path';

export interface SendPathDecision {
  readonly path: SendPath;
  /** Why the tunnel-GSO path is not used (null when it is, or when 'segment' was asked for). */
  readonly fallbackReason: string | null;
}

/**
 * Decides the send path. `probe` sets up the tunnel-GSO path and returns null, or the reason it cannot run here;
 * it is only called when that path may be chosen. Throws a one-line error when 'tunnel-gso' was demanded and the
 * probe failed.
 */
export function selectSendPath(choice: SendPathChoice, probe: () => string | null): SendPathDecision {
  if (choice === 'segment') return { path: 'segment', fallbackReason: null };
  const reason = probe();
  if (reason === null) return { path: 'tunnel-gso', fallbackReason: null };
  if (choice === 'tunnel-gso') {
    throw new Error(`--vxlan-send-path=tunnel-gso cannot run here: ${reason}; use --vxlan-send-path=auto or segment`);
  }
  return { path: 'segment', fallbackReason: reason };
}

/** The TAP of the tunnel-GSO path for TUN `tunName`: `<tun>-gso`, the TUN's name cut to fit IFNAMSIZ. */
export function tunnelTapName(tunName: string): string {
  return `${tunName.slice(0, 11)}-gso`;
}
