// The UDP socket calls of the datapath for either address family, written once: open (bind, buffers, UDP_GRO),
// recvmmsg into caller tables, and sendmmsg with UDP_SEGMENT. A family trait (Inet4 in udp.cc, Inet6 in udp6.cc)
// says how an address is bound and how it crosses into JS: as kWords host-order uint32 words (IPv6: four, word 0
// the most significant), so the TypeScript side needs no bigint.
#pragma once
#include "mmsg.h"
#include "napi_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

constexpr size_t kUdpMaxBatch = 64;

// open(bindAddr, port, {rcvbuf, sndbuf, gro, reusePort}) -> fd (non-blocking).
template <typename F>
Napi::Value UdpOpenOf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t port = info[1].As<Napi::Number>().Uint32Value();
  Napi::Object opts = info.Length() > 2 && info[2].IsObject() ? info[2].As<Napi::Object>() : Napi::Object::New(env);
  typename F::Addr sa;
  memset(&sa, 0, sizeof sa);
  if (!F::BindAddress(info[0], static_cast<uint16_t>(port), &sa)) {
    Napi::TypeError::New(env, F::kBindUsage).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = socket(F::kFamily, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(env, "socket", errno);
  F::BeforeBind(fd);
  if (int err = ApplyUdpOptions(fd, opts)) {
    close(fd);
    return ThrowErrno(env, "setsockopt UDP_GRO", err);
  }
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&sa), sizeof sa) < 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, "bind " + F::Describe(sa), err);
  }
  return Napi::Number::New(env, fd);
}

// One recvmmsg without waiting: datagram i at slab[i*slotSize], lengths[i] (-1: cut, larger than its slot), its
// source as F::kWords words at srcWords[i*kWords], the UDP_GRO segment size (0 when not coalesced); or -errno.
template <typename F>
int RecvDatagramsOf(int fd, uint8_t* slab, size_t slotSize, size_t maxSlots, int32_t* lengths, uint32_t* srcWords,
                    int32_t* gsoSizes) {
  if (maxSlots > kUdpMaxBatch) maxSlots = kUdpMaxBatch;
  struct mmsghdr msgs[kUdpMaxBatch];
  struct iovec iovs[kUdpMaxBatch];
  typename F::Addr addrs[kUdpMaxBatch];
  alignas(struct cmsghdr) char control[kUdpMaxBatch][kMmsgControlLen];
  for (size_t i = 0; i < maxSlots; i++) {
    PrepareMessage(&msgs[i], &iovs[i], &addrs[i], sizeof addrs[i], slab + i * slotSize, slotSize, control[i], -1);
  }
  int n = ReceiveMessages(fd, msgs, maxSlots);
  for (int i = 0; i < n; i++) {
    lengths[i] = msgs[i].msg_hdr.msg_flags & MSG_TRUNC ? -1 : static_cast<int32_t>(msgs[i].msg_len);
    F::ToWords(addrs[i], srcWords + i * F::kWords);
    gsoSizes[i] = GroSizeOf(&msgs[i].msg_hdr);
  }
  return n;
}

// recvBatch(fd, slab, slotSize, maxSlots, lengths, srcAddrs, gsoSizes, timeoutMs) -> datagrams; waits up to
// timeoutMs first when asked to (a loop thread sleeping until traffic: one call per wake-up).
template <typename F>
Napi::Value RecvBatchOf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  size_t slabLen, nLen, nSrc, nGso;
  uint8_t* slab = BytesData(info[1], &slabLen);
  size_t slotSize = info[2].As<Napi::Number>().Uint32Value();
  size_t maxSlots = info[3].As<Napi::Number>().Uint32Value();
  int32_t* lengths = TypedData<int32_t>(info[4], &nLen);
  uint32_t* srcWords = TypedData<uint32_t>(info[5], &nSrc);
  int32_t* gsoSizes = TypedData<int32_t>(info[6], &nGso);
  int timeoutMs = info[7].As<Napi::Number>().Int32Value();
  for (size_t m : {nLen, nSrc / F::kWords, nGso}) if (maxSlots > m) maxSlots = m;
  if (slotSize == 0 || maxSlots * slotSize > slabLen) maxSlots = slotSize ? slabLen / slotSize : 0;
  if (maxSlots == 0) return Napi::Number::New(env, 0);
  if (timeoutMs != 0) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, timeoutMs) <= 0) return Napi::Number::New(env, 0);
  }
  int n = RecvDatagramsOf<F>(fd, slab, slotSize, maxSlots, lengths, srcWords, gsoSizes);
  if (n < 0) return ThrowErrno(env, "recvmmsg", -n);
  return Napi::Number::New(env, n);
}

// sendBatch(fds, slab, offsets, lengths, dstAddrs, dstPort, gsoSizes, count) -> messages the kernel took.
// Consecutive messages with the same fd go out in one sendmmsg; gsoSizes[i] > 0 adds UDP_SEGMENT so the kernel
// splits the message into datagrams of that size. A message the kernel refuses is skipped.
template <typename F>
Napi::Value SendBatchOf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  size_t nFd, slabLen, nOff, nLen, nDst, nGso;
  int32_t* fds = TypedData<int32_t>(info[0], &nFd);
  uint8_t* slab = BytesData(info[1], &slabLen);
  int32_t* offsets = TypedData<int32_t>(info[2], &nOff);
  int32_t* lengths = TypedData<int32_t>(info[3], &nLen);
  uint32_t* dstWords = TypedData<uint32_t>(info[4], &nDst);
  uint16_t port = static_cast<uint16_t>(info[5].As<Napi::Number>().Uint32Value());
  int32_t* gsoSizes = TypedData<int32_t>(info[6], &nGso);
  size_t count = info[7].As<Napi::Number>().Uint32Value();
  for (size_t m : {nFd, nOff, nLen, nDst / F::kWords, nGso}) if (count > m) count = m;
  struct mmsghdr msgs[kUdpMaxBatch];
  struct iovec iovs[kUdpMaxBatch];
  typename F::Addr addrs[kUdpMaxBatch];
  alignas(struct cmsghdr) char control[kUdpMaxBatch][kMmsgControlLen];
  size_t sent = 0;
  for (size_t i = 0, k = 0; i < count; i += k) {
    int fd = fds[i];
    for (k = 0; i + k < count && k < kUdpMaxBatch && fds[i + k] == fd; k++) {
      size_t j = i + k;
      size_t off = static_cast<uint32_t>(offsets[j]);
      size_t len = static_cast<uint32_t>(lengths[j]);
      if (off + len > slabLen) off = len = 0;
      memset(&addrs[k], 0, sizeof addrs[k]);
      F::FromWords(dstWords + j * F::kWords, port, &addrs[k]);
      PrepareMessage(&msgs[k], &iovs[k], &addrs[k], sizeof addrs[k], slab + off, len, control[k], gsoSizes[j]);
    }
    sent += SendMessages(fd, msgs, k);
  }
  return Napi::Number::New(env, static_cast<double>(sent));
}
