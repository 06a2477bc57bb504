// Transmit side of the udp framing, without I/O: packets read from the TUN (each behind a virtio_net_hdr) become
// datagrams of one bare IPv4 packet each, queued for one batched send to the owning peer's PublicIP. The TTL is
// lowered as upstream's proxy does. A TSO super-packet is cut by the shared segmenter (which leaves VXLAN-sized room
// in front of each segment, removed here) so that one UDP_SEGMENT send carries up to 64 packets: the receiver, an
// upstream node included, gets ordinary one-packet datagrams from the kernel.
import { COUNTER_INDEX as C } from './counters.js';
import { TUN_READ_HEADROOM } from './encap.js';
import { innerFlowHash } from './flow-hash.js';
import type { PeerTable } from './peer-table.js';
import { isPlainPacket, isTcp4Tso, TxQueues } from './tx-queues.js';
import { decrementTtl, packSegments } from './udp-framing.js';
import { readVnetHdr, VNET_HDR_LEN } from './virtio-hdr.js';
import { ENCAP_PREFIX_LEN, ipv4PacketLength } from './wire.js';

/** Where the IPv4 packet of read slot i starts: the TUN read puts it there (the vxlan loop's slot layout). */
const PACKET_OFFSET = TUN_READ_HEADROOM + VNET_HDR_LEN;
/** The segmenter's per-segment room: it writes a copy of ENCAP_PREFIX_LEN bytes in front of each segment. */
const SEGMENTER_PREFIX = ENCAP_PREFIX_LEN;

/** Reusable per-thread state of the udp transmit side (the queues of TxQueues; slab layout of encapSlabLayout). */
export class UdpEncapBatch extends TxQueues {
  /** Processes `count` reads (slot i at i*slotSize, lengths[i] bytes from TUN_READ_HEADROOM on). */
  frame(sendFds: Int32Array, peers: PeerTable, lengths: Int32Array, count: number, counters: Float64Array): void {
    this.sendCount = 0;
    this.tunCount = 0;
    let outPos = this.outStart;
    const slab = this.slab;
    for (let i = 0; i < count; i++) {
      const slot = i * this.slotSize;
      const ip = slot + PACKET_OFFSET;
      const len = lengths[i]! - VNET_HDR_LEN;
      const ipLen = ipv4PacketLength(slab, ip, len);
      const peer = this.peerOf(peers, ip, ipLen, ipLen, counters);
      if (peer < 0) continue;
      if (!decrementTtl(slab, ip)) {
        counters[C.drop_ttl_expired]!++;
        continue;
      }
      const vnet = readVnetHdr(slab, slot + TUN_READ_HEADROOM, this.vnet);
      const fd = sendFds[(innerFlowHash(slab, ip, ipLen) >>> 0) % sendFds.length]!;
      const publicIP = peers.publicIPs[peer]! | 0; // int32: see encap.ts
      if (isTcp4Tso(vnet)) {
        if (!this.segment(ip, ipLen, vnet.gsoSize, slot, outPos, counters)) continue;
        const seg = this.seg;
        const bytes = packSegments(slab, outPos, seg.count, seg.segmentSize, seg.bytes, SEGMENTER_PREFIX);
        this.queueSegments(fd, publicIP, outPos, seg.count, seg.segmentSize - SEGMENTER_PREFIX, bytes, bytes, counters);
        outPos += bytes;
        continue;
      }
      if (!isPlainPacket(vnet)) {
        counters[C.drop_bad_ip]!++;
        continue;
      }
      this.completeChecksum(vnet, ip, ipLen);
      this.queue(fd, publicIP, ip, ipLen, 0);
      counters[C.tx_packets]!++;
      counters[C.tx_bytes]! += ipLen;
    }
  }
}
