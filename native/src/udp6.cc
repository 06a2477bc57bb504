// IPv6 UDP sockets for the userspace VXLAN datapath's IPv6 half (flannel-v6.<VNI> over an IPv6 underlay): open with
// IPV6_V6ONLY (so the IPv4 socket on the same port keeps its traffic), batched receive and batched send with
// UDP_SEGMENT. Addresses cross into JS as four host-order uint32 words each (word 0 = the most significant), so the
// TypeScript side compares them without bigint. No policy.
#include "modules.h"
#include "napi_util.h"

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

void WordsToAddr(const uint32_t* w, struct in6_addr* a) {
  for (int i = 0; i < 4; i++) {
    uint32_t be = htonl(w[i]);
    memcpy(a->s6_addr + 4 * i, &be, 4);
  }
}

void AddrToWords(const struct in6_addr* a, uint32_t* w) {
  for (int i = 0; i < 4; i++) {
    uint32_t be;
    memcpy(&be, a->s6_addr + 4 * i, 4);
    w[i] = ntohl(be);
  }
}

void SetBuffer(int fd, int force, int plain, int size) {
  if (size > 0 && setsockopt(fd, SOL_SOCKET, force, &size, sizeof size) < 0) {
    setsockopt(fd, SOL_SOCKET, plain, &size, sizeof size);
  }
}

// udp6Open(bindAddr: Uint32Array(4), port, {rcvbuf, sndbuf, gro, reusePort}) -> fd (non-blocking, IPv6 only).
Napi::Value Udp6Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  size_t nWords;
  uint32_t* words = TypedData<uint32_t>(info[0], &nWords);
  uint32_t port = info[1].As<Napi::Number>().Uint32Value();
  Napi::Object opts = info.Length() > 2 && info[2].IsObject() ? info[2].As<Napi::Object>() : Napi::Object::New(env);
  if (nWords < 4) {
    Napi::TypeError::New(env, "udp6Open: bindAddr must be a Uint32Array of 4 words").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(env, "socket AF_INET6", errno);
  int one = 1;
  setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (BoolOpt(opts, "reusePort")) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  SetBuffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, static_cast<int>(IntOpt(opts, "rcvbuf", 0)));
  SetBuffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, static_cast<int>(IntOpt(opts, "sndbuf", 0)));
  if (BoolOpt(opts, "gro") && setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof one) < 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, "setsockopt UDP_GRO", err);
  }
  struct sockaddr_in6 sa;
  memset(&sa, 0, sizeof sa);
  sa.sin6_family = AF_INET6;
  sa.sin6_port = htons(static_cast<uint16_t>(port));
  WordsToAddr(words, &sa.sin6_addr);
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&sa), sizeof sa) < 0) {
    int err = errno;
    close(fd);
    char text[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, &sa.sin6_addr, text, sizeof text);
    return ThrowErrno(env, "bind [" + std::string(text) + "]:" + std::to_string(port), err);
  }
  return Napi::Number::New(env, fd);
}

// recvBatch6(fd, slab, slotSize, maxSlots, lengths: Int32Array, srcAddrs: Uint32Array(4 per slot),
//            gsoSizes: Int32Array, timeoutMs) -> datagrams; as recvBatch, with the source as 4 words at srcAddrs[4i].
Napi::Value RecvBatch6(const Napi::CallbackInfo& info) {
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
  for (size_t m : {nLen, nSrc / 4, nGso, kMaxBatch}) if (maxSlots > m) maxSlots = m;
  if (slotSize == 0 || maxSlots * slotSize > slabLen) maxSlots = slotSize ? slabLen / slotSize : 0;
  if (maxSlots == 0) return Napi::Number::New(env, 0);
  if (timeoutMs != 0) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, timeoutMs) <= 0) return Napi::Number::New(env, 0);
  }
  struct mmsghdr msgs[kMaxBatch];
  struct iovec iovs[kMaxBatch];
  struct sockaddr_in6 addrs[kMaxBatch];
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
  if (n < 0) {
    if (errno == EAGAIN) return Napi::Number::New(env, 0);
    return ThrowErrno(env, "recvmmsg", errno);
  }
  for (int i = 0; i < n; i++) {
    lengths[i] = static_cast<int32_t>(msgs[i].msg_len);
    AddrToWords(&addrs[i].sin6_addr, srcAddrs + 4 * i);
    gsoSizes[i] = 0;
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c; c = CMSG_NXTHDR(&msgs[i].msg_hdr, c)) {
      if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) memcpy(&gsoSizes[i], CMSG_DATA(c), sizeof(int));
    }
    if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) lengths[i] = -1;
  }
  return Napi::Number::New(env, n);
}

// sendBatch6(fds: Int32Array, slab, offsets, lengths, dstAddrs: Uint32Array(4 per message), dstPort, gsoSizes,
//            count) -> messages the kernel took; as sendBatch (a refused message is skipped).
Napi::Value SendBatch6(const Napi::CallbackInfo& info) {
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
  for (size_t m : {nFd, nOff, nLen, nDst / 4, nGso}) if (count > m) count = m;
  struct mmsghdr msgs[kMaxBatch];
  struct iovec iovs[kMaxBatch];
  struct sockaddr_in6 addrs[kMaxBatch];
  alignas(struct cmsghdr) char control[kMaxBatch][CMSG_SPACE(sizeof(uint16_t))];
  size_t sent = 0;
  size_t i = 0;
  while (i < count) {
    int fd = fds[i];
    size_t k = 0;
    for (; i + k < count && k < kMaxBatch && fds[i + k] == fd; k++) {
      size_t j = i + k;
      size_t off = static_cast<uint32_t>(offsets[j]);
      size_t len = static_cast<uint32_t>(lengths[j]);
      if (off + len > slabLen) len = 0;
      memset(&msgs[k], 0, sizeof msgs[k]);
      memset(&addrs[k], 0, sizeof addrs[k]);
      addrs[k].sin6_family = AF_INET6;
      addrs[k].sin6_port = htons(port);
      WordsToAddr(dstAddrs + 4 * j, &addrs[k].sin6_addr);
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
      done++;  // refused (EMSGSIZE, EINVAL, ENETUNREACH…): skip it
    }
    i += k;
  }
  return Napi::Number::New(env, static_cast<double>(sent));
}

}  // namespace

void InitUdp6(Napi::Env env, Napi::Object exports) {
  exports.Set("udp6Open", Napi::Function::New(env, Udp6Open));
  exports.Set("recvBatch6", Napi::Function::New(env, RecvBatch6));
  exports.Set("sendBatch6", Napi::Function::New(env, SendBatch6));
}
