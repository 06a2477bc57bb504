// What the IPv4 (udp.cc) and IPv6 (udp6.cc) UDP files do alike around recvmmsg/sendmmsg: socket buffers and
// UDP_GRO at open, a message over one slab range (with a UDP_SEGMENT cmsg when it carries several segments), the
// GRO size of a received message, and the send of a run of messages with the retry rule. Only the address differs.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <napi.h>

// CMSG space for one int (UDP_GRO) or one uint16_t (UDP_SEGMENT): both fit.
constexpr size_t kMmsgControlLen = CMSG_SPACE(sizeof(int));

// SO_RCVBUF/SO_SNDBUF from opts {rcvbuf, sndbuf} (FORCE variants first), SO_REUSEPORT from {reusePort}, UDP_GRO from
// {gro}; returns 0 or the errno of a failed UDP_GRO.
int ApplyUdpOptions(int fd, const Napi::Object& opts);

// Message `m` over data[0, len) to or from `name`; with control space, gso > 0 and gso < len: a UDP_SEGMENT cmsg.
void PrepareMessage(struct mmsghdr* m, struct iovec* iov, void* name, socklen_t nameLen, uint8_t* data, size_t len,
                    char* control, int32_t gso);

// The UDP_GRO segment size a received message carries, or 0.
int32_t GroSizeOf(struct msghdr* h);

// sendmmsg of msgs[0, k) on fd: retries EINTR, waits on EAGAIN (up to 100 × 10 ms), skips a message the kernel
// refuses; returns how many the kernel took.
size_t SendMessages(int fd, struct mmsghdr* msgs, size_t k);

// recvmmsg of up to n prepared messages without waiting: the count, 0 when none was queued, or -errno.
int ReceiveMessages(int fd, struct mmsghdr* msgs, size_t n);
