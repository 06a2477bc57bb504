// The wait of a both-direction datapath loop in one call: poll its TUN queue and UDP socket (spinning first when
// asked), then read what is queued on each. A wake-up thus costs one crossing between JS and C++ instead of three
// (poll, TUN read, recvmmsg); on a vCPU that has just come out of halt, each crossing runs on cold caches.
// The buffers are bound once, in loopIoOpen, so a wait marshals no typed arrays. No policy.
#include "modules.h"
#include "napi_util.h"
#include "batch_io.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <time.h>

#include <algorithm>
#include <string>

namespace {

struct Side {
  Napi::Reference<Napi::Value> keep[4];
  uint8_t* slab = nullptr;
  size_t slotSize = 0;
  size_t maxSlots = 0;
  int32_t* lengths = nullptr;
};

struct LoopIo {
  int tunFd = -1;
  int udpFd = -1;
  int wakeFd = -1;  // wake.cc: signalled on peer updates and stop; -1 when the loop has none
  size_t headroom = 0;
  Side tx;  // TUN reads
  Side rx;  // UDP receives
  uint32_t* sources = nullptr;
  int32_t* gsoSizes = nullptr;
  bool ipv6 = false;  // an IPv6 socket: 4 source words per datagram
};

template <typename T>
T* Bind(Side& side, int k, const Napi::Value& v, size_t* count) {
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  side.keep[k] = Napi::Persistent(v);  // keeps the backing store (and so the pointer) alive as long as the handle
  *count = ta.ByteLength() / sizeof(T);
  return reinterpret_cast<T*>(static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset());
}

uint32_t U32(const Napi::Object& o, const char* key) { return o.Get(key).As<Napi::Number>().Uint32Value(); }

int64_t MonotonicNs() {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return int64_t(t.tv_sec) * 1000000000 + t.tv_nsec;
}

// loopIoOpen({tunFd, udpFd, wakeFd?, headroom, txSlab, txSlotSize, txLengths, rxSlab, rxSlotSize, rxLengths,
//             rxSources, rxGsoSizes, family?}) -> handle. Slots per side: as many as its lengths array holds (and its
//             slab fits). family 6: the socket is IPv6 and rxSources takes 4 words per datagram (RecvDatagrams6).
Napi::Value LoopIoOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = info[0].As<Napi::Object>();
  auto* io = new LoopIo();
  io->tunFd = static_cast<int>(U32(o, "tunFd"));
  io->udpFd = static_cast<int>(U32(o, "udpFd"));
  if (o.Has("wakeFd") && o.Get("wakeFd").IsNumber()) io->wakeFd = o.Get("wakeFd").As<Napi::Number>().Int32Value();
  io->headroom = U32(o, "headroom");
  size_t txBytes, txCount, rxBytes, rxCount, srcCount, gsoCount;
  io->tx.slab = Bind<uint8_t>(io->tx, 0, o.Get("txSlab"), &txBytes);
  io->tx.lengths = Bind<int32_t>(io->tx, 1, o.Get("txLengths"), &txCount);
  io->tx.slotSize = U32(o, "txSlotSize");
  io->rx.slab = Bind<uint8_t>(io->rx, 0, o.Get("rxSlab"), &rxBytes);
  io->rx.lengths = Bind<int32_t>(io->rx, 1, o.Get("rxLengths"), &rxCount);
  io->sources = Bind<uint32_t>(io->rx, 2, o.Get("rxSources"), &srcCount);
  io->gsoSizes = Bind<int32_t>(io->rx, 3, o.Get("rxGsoSizes"), &gsoCount);
  io->rx.slotSize = U32(o, "rxSlotSize");
  io->ipv6 = o.Has("family") && U32(o, "family") == 6;
  if (io->ipv6) srcCount /= 4;
  if (io->tx.slotSize <= io->headroom || io->rx.slotSize == 0) {
    delete io;
    Napi::TypeError::New(env, "loopIoOpen: slot sizes must exceed the headroom").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  io->tx.maxSlots = std::min(txCount, txBytes / io->tx.slotSize);
  io->rx.maxSlots = std::min({rxCount, srcCount, gsoCount, rxBytes / io->rx.slotSize});
  return Napi::External<LoopIo>::New(env, io, [](Napi::Env, LoopIo* p) { delete p; });
}

// loopWait(handle, timeoutMs, spinMicros) -> tunPackets | udpDatagrams << 8; 0 when nothing came within the wait or
// the wake fd was signalled (the caller then looks at its peer updates and stop flag).
// spinMicros: first poll without sleeping that long, yielding the CPU between polls. A thread asleep in poll is woken
// by an IPI, and on a VM whose idle vCPUs halt that wake-up costs tens of µs, often more than the answer to a
// datagram just sent takes to arrive. sched_yield keeps the spin from holding a CPU another runnable thread needs.
Napi::Value LoopWait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LoopIo* io = info[0].As<Napi::External<LoopIo>>().Data();
  int timeoutMs = info[1].As<Napi::Number>().Int32Value();
  int64_t spinNs = info[2].As<Napi::Number>().Int64Value() * 1000;
  struct pollfd p[3] = {{io->tunFd, POLLIN, 0}, {io->udpFd, POLLIN, 0}, {io->wakeFd, POLLIN, 0}};
  const nfds_t n = io->wakeFd >= 0 ? 3 : 2;
  int r = 0;
  if (spinNs > 0) {
    int64_t deadline = MonotonicNs() + spinNs;
    while ((r = poll(p, n, 0)) == 0 && MonotonicNs() < deadline) sched_yield();
  }
  if (r == 0) r = poll(p, n, timeoutMs);
  if (r < 0) return errno == EINTR ? Napi::Number::New(env, 0) : ThrowErrno(env, "poll", errno);
  if (r == 0) return Napi::Number::New(env, 0);
  if (n == 3 && (p[2].revents & POLLIN)) DrainWakeFd(io->wakeFd);
  int tun = 0, udp = 0;
  if (p[0].revents & (POLLIN | POLLERR | POLLHUP)) {
    tun = ReadPackets(io->tunFd, io->tx.slab, io->tx.slotSize, io->tx.maxSlots, io->headroom, io->tx.lengths);
    if (tun < 0) return ThrowErrno(env, "read", -tun);
  }
  if (p[1].revents & (POLLIN | POLLERR)) {
    udp = (io->ipv6 ? RecvDatagrams6 : RecvDatagrams)(io->udpFd, io->rx.slab, io->rx.slotSize, io->rx.maxSlots,
                                                      io->rx.lengths, io->sources, io->gsoSizes);
    if (udp < 0) return ThrowErrno(env, "recvmmsg", -udp);
  }
  return Napi::Number::New(env, tun | (udp << 8));
}

}  // namespace

void InitLoopIo(Napi::Env env, Napi::Object exports) {
  exports.Set("loopIoOpen", Napi::Function::New(env, LoopIoOpen));
  exports.Set("loopWait", Napi::Function::New(env, LoopWait));
}
