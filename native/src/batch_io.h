// The packet-moving cores behind readBatch/recvBatch and the loop's wait (loop_io.cc). They never wait: each takes
// what is queued, up to maxSlots, and returns the count (0 when nothing was queued) or -errno when the call failed.
#pragma once
#include <stddef.h>
#include <stdint.h>

// TUN reads: packet i at slab[i*slotSize + headroom], its length in lengths[i].
int ReadPackets(int fd, uint8_t* slab, size_t slotSize, size_t maxSlots, size_t headroom, int32_t* lengths);

// One recvmmsg: datagram i at slab[i*slotSize], lengths[i] (-1: cut, larger than its slot), the host-order source
// address and the UDP_GRO segment size (0 when not coalesced).
int RecvDatagrams(int fd, uint8_t* slab, size_t slotSize, size_t maxSlots, int32_t* lengths, uint32_t* srcAddrs,
                  int32_t* gsoSizes);

// The same for an IPv6 socket (udp6.cc): the source of datagram i as 4 host-order words at srcWords[4i].
int RecvDatagrams6(int fd, uint8_t* slab, size_t slotSize, size_t maxSlots, int32_t* lengths, uint32_t* srcWords,
                   int32_t* gsoSizes);
