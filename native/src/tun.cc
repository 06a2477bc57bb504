// TUN device syscalls for the userspace VXLAN datapath: open (with vnet_hdr / multi-queue), offloads, and batched
// reads/writes into caller-provided buffers. No policy: the datapath in src/datapath decides what to do with packets.
#include "modules.h"
#include "napi_util.h"
#include "batch_io.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <string>

namespace {

// tunOpen(name, {vnetHdr, multiQueue, persist}) -> {fd, name}; the fd is non-blocking.
Napi::Value TunOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "tunOpen(name: string, opts?: object)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string name = info[0].As<Napi::String>().Utf8Value();
  Napi::Object opts = info.Length() > 1 && info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env);
  if (name.size() >= IFNAMSIZ) {
    Napi::RangeError::New(env, "TUN device name too long: " + name).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return ThrowErrno(env, "open /dev/net/tun", errno);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  if (BoolOpt(opts, "vnetHdr")) ifr.ifr_flags |= IFF_VNET_HDR;
  if (BoolOpt(opts, "multiQueue")) ifr.ifr_flags |= IFF_MULTI_QUEUE;
  strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, "TUNSETIFF " + name, err);
  }
  if (BoolOpt(opts, "persist") && ioctl(fd, TUNSETPERSIST, 1) < 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, "TUNSETPERSIST " + name, err);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("fd", Napi::Number::New(env, fd));
  out.Set("name", Napi::String::New(env, ifr.ifr_name));
  return out;
}

// tunSetOffload(fd, flags): TUN_F_CSUM=1, TUN_F_TSO4=2, TUN_F_TSO6=4, TUN_F_TSO_ECN=8, TUN_F_USO4=0x20.
Napi::Value TunSetOffload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  unsigned long flags = info[1].As<Napi::Number>().Uint32Value();
  if (ioctl(fd, TUNSETOFFLOAD, flags) < 0) return ThrowErrno(env, "TUNSETOFFLOAD", errno);
  return env.Undefined();
}

// Waits until fd is readable or timeoutMs passes. Returns false on timeout; throws nothing (EINTR = timeout).
bool WaitReadable(int fd, int timeoutMs) {
  struct pollfd p = {fd, POLLIN, 0};
  int r = poll(&p, 1, timeoutMs);
  return r > 0;
}

}  // namespace

int ReadPackets(int fd, uint8_t* slab, size_t slotSize, size_t maxSlots, size_t headroom, int32_t* lengths) {
  size_t n = 0;
  while (n < maxSlots) {
    ssize_t r = read(fd, slab + n * slotSize + headroom, slotSize - headroom);
    if (r >= 0) {
      lengths[n++] = static_cast<int32_t>(r);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && n == 0) return -errno;
    break;
  }
  return static_cast<int>(n);
}

namespace {

// readBatch(fd, slab, slotSize, maxSlots, lengths: Int32Array, timeoutMs, headroom = 0) -> number of packets read.
// Packet i lands at slab[i*slotSize + headroom] (headroom leaves space to prepend headers without a copy), its length
// in lengths[i]. Waits up to timeoutMs (0: not at all, -1: forever) for the first packet, then takes what is queued
// without waiting. Works for any non-blocking fd whose reads return one packet (TUN).
Napi::Value ReadBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  size_t slabLen;
  uint8_t* slab = BytesData(info[1], &slabLen);
  size_t slotSize = info[2].As<Napi::Number>().Uint32Value();
  size_t maxSlots = info[3].As<Napi::Number>().Uint32Value();
  size_t lenCount;
  int32_t* lengths = TypedData<int32_t>(info[4], &lenCount);
  int timeoutMs = info[5].As<Napi::Number>().Int32Value();
  size_t headroom = info.Length() > 6 && info[6].IsNumber() ? info[6].As<Napi::Number>().Uint32Value() : 0;
  if (headroom >= slotSize) headroom = 0;
  if (maxSlots > lenCount) maxSlots = lenCount;
  if (slotSize == 0 || maxSlots * slotSize > slabLen) maxSlots = slotSize ? slabLen / slotSize : 0;
  if (maxSlots == 0) return Napi::Number::New(env, 0);
  // A loop thread calls this to sleep until traffic: wait first, then read, so that waking costs one call (poll,
  // read, read→EAGAIN) instead of a separate poll call before it.
  if (timeoutMs != 0 && !WaitReadable(fd, timeoutMs)) return Napi::Number::New(env, 0);
  int n = ReadPackets(fd, slab, slotSize, maxSlots, headroom, lengths);
  if (n < 0) return ThrowErrno(env, "read", -n);
  return Napi::Number::New(env, n);
}

// writeBatch(fd, slab, offsets: Int32Array, lengths: Int32Array, count) -> number written. Each packet is one
// write(); a packet the kernel refuses (EINVAL, ENOBUFS…) is skipped and counted as not written.
Napi::Value WriteBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  size_t slabLen;
  uint8_t* slab = BytesData(info[1], &slabLen);
  size_t offCount, lenCount;
  int32_t* offsets = TypedData<int32_t>(info[2], &offCount);
  int32_t* lengths = TypedData<int32_t>(info[3], &lenCount);
  size_t count = info[4].As<Napi::Number>().Uint32Value();
  if (count > offCount) count = offCount;
  if (count > lenCount) count = lenCount;
  size_t written = 0;
  for (size_t i = 0; i < count; i++) {
    size_t off = static_cast<uint32_t>(offsets[i]);
    size_t len = static_cast<uint32_t>(lengths[i]);
    if (off + len > slabLen) continue;
    for (;;) {
      ssize_t r = write(fd, slab + off, len);
      if (r >= 0) {
        written++;
        break;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        struct pollfd p = {fd, POLLOUT, 0};
        if (poll(&p, 1, 10) > 0) continue;
      }
      break;
    }
  }
  return Napi::Number::New(env, static_cast<double>(written));
}

Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  close(fd);
  return info.Env().Undefined();
}

}  // namespace

void InitTun(Napi::Env env, Napi::Object exports) {
  exports.Set("tunOpen", Napi::Function::New(env, TunOpen));
  exports.Set("tunSetOffload", Napi::Function::New(env, TunSetOffload));
  exports.Set("readBatch", Napi::Function::New(env, ReadBatch));
  exports.Set("writeBatch", Napi::Function::New(env, WriteBatch));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd));
}
