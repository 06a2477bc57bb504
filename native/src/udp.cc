// UDP socket syscalls for the userspace VXLAN datapath: open/bind with buffer sizes and UDP_GRO, batched receive
// (recvmmsg, source addresses and GRO segment sizes written into caller tables) and batched send (sendmmsg with a
// UDP_SEGMENT cmsg per message). No policy.
#include "modules.h"
#include "napi_util.h"
#include "batch_io.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

namespace {

constexpr size_t kMaxBatch = 64;

// udpOpen(bindAddr: uint32, port, {rcvbuf, sndbuf, gro, reusePort}) -> fd (non-blocking). Buffer sizes are set with
// the FORCE variants first (root), falling back to the plain ones capped by net.core.*mem_max.
Napi::Value UdpOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t addr = info[0].As<Napi::Number>().Uint32Value();
  uint32_t port = info[1].As<Napi::Number>().Uint32Value();
  Napi::Object opts = info.Length() > 2 && info[2].IsObject() ? info[2].As<Napi::Object>() : Napi::Object::New(env);
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(env, "socket", errno);
  int one = 1;
  if (BoolOpt(opts, "reusePort")) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  int rcv = static_cast<int>(IntOpt(opts, "rcvbuf", 0));
  if (rcv > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv) < 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  }
  int snd = static_cast<int>(IntOpt(opts, "sndbuf", 0));
  if (snd > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &snd, sizeof snd) < 0) {
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, sizeof snd);
  }
  if (BoolOpt(opts, "gro") && setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof one) < 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, "setsockopt UDP_GRO", err);
  }
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(addr);
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&sa), sizeof sa) < 0) {
    int err = errno;
    close(fd);
    char text[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &sa.sin_addr, text, sizeof text);
    return ThrowErrno(env, "bind " + std::string(text) + ":" + std::to_string(port), err);
  }
  return Napi::Number::New(env, fd);
}

}  // namespace

int RecvDatagrams(int fd, uint8_t* slab, size_t slotSize, size_t maxSlots, int32_t* lengths, uint32_t* srcAddrs,
                  int32_t* gsoSizes) {
  if (maxSlots > kMaxBatch) maxSlots = kMaxBatch;
  struct mmsghdr msgs[kMaxBatch];
  struct iovec iovs[kMaxBatch];
  struct sockaddr_in addrs[kMaxBatch];
  alignas(struct cmsghdr) char control[kMaxBatch][CMSG_SPACE(sizeof(int))];
  for (size_t i = 0; i < maxSlots; i++) {
    iovs[i].iov_base = slab + i * slotSize;
    iovs[i].iov_len = slotSize;
    memset(&msgs[i], 0, sizeof msgs[i]);
    msgs[i].msg_hdr.msg_name = &addrs[i];
    msgs[i].msg_hdr.msg_namelen = sizeof addrs[i];
    msgs[i].msg_hdr.msg_iov = &iovs[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_control = control[i];
    msgs[i].msg_hdr.msg_controllen = sizeof control[i];
  }
  int n;
  do {
    n = recvmmsg(fd, msgs, static_cast<unsigned>(maxSlots), MSG_DONTWAIT, nullptr);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return errno == EAGAIN ? 0 : -errno;
  for (int i = 0; i < n; i++) {
    lengths[i] = static_cast<int32_t>(msgs[i].msg_len);
    srcAddrs[i] = ntohl(addrs[i].sin_addr.s_addr);
    gsoSizes[i] = 0;
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c; c = CMSG_NXTHDR(&msgs[i].msg_hdr, c)) {
      if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
        int gso;
        memcpy(&gso, CMSG_DATA(c), sizeof gso);
        gsoSizes[i] = gso;
      }
    }
    // A datagram bigger than its slot was cut: report it as truncated with a negative length.
    if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) lengths[i] = -1;
  }
  return n;
}

namespace {

// recvBatch(fd, slab, slotSize, maxSlots, lengths: Int32Array, srcAddrs: Uint32Array, gsoSizes: Int32Array,
//           timeoutMs) -> number of datagrams. Datagram i is at slab[i*slotSize]; srcAddrs[i] is the sender's IPv4
// as a host-order uint32; gsoSizes[i] is the UDP_GRO segment size (0 when the datagram was not coalesced).
Napi::Value RecvBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  size_t slabLen, nLen, nSrc, nGso;
  uint8_t* slab = BytesData(info[1], &slabLen);
  size_t slotSize = info[2].As<Napi::Number>().Uint32Value();
  size_t maxSlots = info[3].As<Napi::Number>().Uint32Value();
  int32_t* lengths = TypedData<int32_t>(info[4], &nLen);
  uint32_t* srcAddrs = TypedData<uint32_t>(info[5], &nSrc);
  int32_t* gsoSizes = TypedData<int32_t>(info[6], &nGso);
  int timeoutMs = info[7].As<Napi::Number>().Int32Value();
  if (maxSlots > nLen) maxSlots = nLen;
  if (maxSlots > nSrc) maxSlots = nSrc;
  if (maxSlots > nGso) maxSlots = nGso;
  if (slotSize == 0 || maxSlots * slotSize > slabLen) maxSlots = slotSize ? slabLen / slotSize : 0;
  if (maxSlots == 0) return Napi::Number::New(env, 0);
  // Wait first when asked to (a loop thread sleeping until traffic): one call per wake-up instead of poll, then this.
  if (timeoutMs != 0) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, timeoutMs) <= 0) return Napi::Number::New(env, 0);
  }
  int n = RecvDatagrams(fd, slab, slotSize, maxSlots, lengths, srcAddrs, gsoSizes);
  if (n < 0) return ThrowErrno(env, "recvmmsg", -n);
  return Napi::Number::New(env, n);
}

// sendBatch(fds: Int32Array, slab, offsets: Int32Array, lengths: Int32Array, dstAddrs: Uint32Array, dstPort,
//           gsoSizes: Int32Array, count) -> number of messages the kernel took. Consecutive messages with the same fd
// go out in one sendmmsg; a message with gsoSizes[i] > 0 carries UDP_SEGMENT so the kernel splits it into
// datagrams of that size. A message the kernel refuses is skipped.
Napi::Value SendBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  size_t nFd, slabLen, nOff, nLen, nDst, nGso;
  int32_t* fds = TypedData<int32_t>(info[0], &nFd);
  uint8_t* slab = BytesData(info[1], &slabLen);
  int32_t* offsets = TypedData<int32_t>(info[2], &nOff);
  int32_t* lengths = TypedData<int32_t>(info[3], &nLen);
  uint32_t* dstAddrs = TypedData<uint32_t>(info[4], &nDst);
  uint16_t port = static_cast<uint16_t>(info[5].As<Napi::Number>().Uint32Value());
  int32_t* gsoSizes = TypedData<int32_t>(info[6], &nGso);
  size_t count = info[7].As<Napi::Number>().Uint32Value();
  for (size_t m : {nFd, nOff, nLen, nDst, nGso}) if (count > m) count = m;

  struct mmsghdr msgs[kMaxBatch];
  struct iovec iovs[kMaxBatch];
  struct sockaddr_in addrs[kMaxBatch];
  alignas(struct cmsghdr) char control[kMaxBatch][CMSG_SPACE(sizeof(uint16_t))];
  size_t sent = 0;
  size_t i = 0;
  while (i < count) {
    int fd = fds[i];
    size_t k = 0;
    while (i + k < count && k < kMaxBatch && fds[i + k] == fd) {
      size_t j = i + k;
      size_t off = static_cast<uint32_t>(offsets[j]);
      size_t len = static_cast<uint32_t>(lengths[j]);
      if (off + len > slabLen) len = 0;
      memset(&msgs[k], 0, sizeof msgs[k]);
      memset(&addrs[k], 0, sizeof addrs[k]);
      addrs[k].sin_family = AF_INET;
      addrs[k].sin_port = htons(port);
      addrs[k].sin_addr.s_addr = htonl(dstAddrs[j]);
      iovs[k].iov_base = slab + off;
      iovs[k].iov_len = len;
      msgs[k].msg_hdr.msg_name = &addrs[k];
      msgs[k].msg_hdr.msg_namelen = sizeof addrs[k];
      msgs[k].msg_hdr.msg_iov = &iovs[k];
      msgs[k].msg_hdr.msg_iovlen = 1;
      if (gsoSizes[j] > 0 && static_cast<size_t>(gsoSizes[j]) < len) {
        msgs[k].msg_hdr.msg_control = control[k];
        msgs[k].msg_hdr.msg_controllen = sizeof control[k];
        struct cmsghdr* c = CMSG_FIRSTHDR(&msgs[k].msg_hdr);
        c->cmsg_level = SOL_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        uint16_t seg = static_cast<uint16_t>(gsoSizes[j]);
        memcpy(CMSG_DATA(c), &seg, sizeof seg);
      }
      k++;
    }
    size_t done = 0;
    int retries = 0;
    while (done < k) {
      int r = sendmmsg(fd, msgs + done, static_cast<unsigned>(k - done), 0);
      if (r > 0) {
        done += r;
        sent += r;
        continue;
      }
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 && errno == EAGAIN && retries++ < 100) {
        struct pollfd p = {fd, POLLOUT, 0};
        poll(&p, 1, 10);
        continue;
      }
      done++;  // the kernel refused this message (EMSGSIZE, EINVAL, ENETUNREACH…): skip it
    }
    i += k;
  }
  return Napi::Number::New(env, static_cast<double>(sent));
}

}  // namespace

void InitUdp(Napi::Env env, Napi::Object exports) {
  exports.Set("udpOpen", Napi::Function::New(env, UdpOpen));
  exports.Set("recvBatch", Napi::Function::New(env, RecvBatch));
  exports.Set("sendBatch", Napi::Function::New(env, SendBatch));
}
