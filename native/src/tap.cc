// The TAP entry point of the tunnel-GSO send path: a TAP whose virtio_net_hdr is the 24-byte v1 tunnel header, so
// one write of a whole VXLAN super-frame (outer Ethernet/IPv4/UDP, VXLAN, inner Ethernet/IPv4/TCP) leaves the host
// segmented by the kernel, or as one GSO packet where the underlay takes it. tapOpen only makes the device and says
// whether the kernel accepted the offloads; the frames and every policy are TypeScript's (src/datapath).
#include "modules.h"
#include "napi_util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

namespace {

void CloseKeepErrno(int fd) {
  int err = errno;
  close(fd);
  errno = err;
}

// Brings the device up and reads its MAC; returns false with errno set.
bool UpAndMac(const char* name, uint8_t mac[6]) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return false;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  bool ok = ioctl(s, SIOCGIFFLAGS, &ifr) == 0;
  if (ok && !(ifr.ifr_flags & IFF_UP)) {
    ifr.ifr_flags |= IFF_UP;
    ok = ioctl(s, SIOCSIFFLAGS, &ifr) == 0;
  }
  if (ok) {
    memset(&ifr.ifr_hwaddr, 0, sizeof ifr.ifr_hwaddr);
    ok = ioctl(s, SIOCGIFHWADDR, &ifr) == 0;
    if (ok) memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
  }
  CloseKeepErrno(s);
  return ok;
}

// tapOpen(name, {vnetHdrSize, offload, multiQueue, persist, up}) -> {fd, name, mac: number[6]}; non-blocking fd.
// Throws with errno (EINVAL where the kernel refuses the header size or an offload flag: the caller falls back).
Napi::Value TapOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsObject()) {
    Napi::TypeError::New(env, "tapOpen(name: string, opts: object)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string name = info[0].As<Napi::String>().Utf8Value();
  Napi::Object opts = info[1].As<Napi::Object>();
  if (name.size() >= IFNAMSIZ) {
    Napi::RangeError::New(env, "TAP device name too long: " + name).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return ThrowErrno(env, "open /dev/net/tun", errno);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  if (BoolOpt(opts, "multiQueue")) ifr.ifr_flags |= IFF_MULTI_QUEUE;
  strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  int hdrSize = static_cast<int>(IntOpt(opts, "vnetHdrSize", 10));
  unsigned long offload = IntOpt(opts, "offload", 0);
  const char* step = "TUNSETIFF";
  bool ok = ioctl(fd, TUNSETIFF, &ifr) == 0;
  if (ok) { step = "TUNSETVNETHDRSZ"; ok = ioctl(fd, TUNSETVNETHDRSZ, &hdrSize) == 0; }
  if (ok) { step = "TUNSETOFFLOAD"; ok = ioctl(fd, TUNSETOFFLOAD, offload) == 0; }
  if (ok && BoolOpt(opts, "persist")) { step = "TUNSETPERSIST"; ok = ioctl(fd, TUNSETPERSIST, 1) == 0; }
  uint8_t mac[6] = {0};
  if (ok && BoolOpt(opts, "up")) { step = "bring up"; ok = UpAndMac(ifr.ifr_name, mac); }
  if (!ok) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, std::string(step) + " " + name, err);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("fd", Napi::Number::New(env, fd));
  out.Set("name", Napi::String::New(env, ifr.ifr_name));
  Napi::Array m = Napi::Array::New(env, 6);
  for (uint32_t i = 0; i < 6; i++) m.Set(i, Napi::Number::New(env, mac[i]));
  out.Set("mac", m);
  return out;
}

}  // namespace

void InitTap(Napi::Env env, Napi::Object exports) { exports.Set("tapOpen", Napi::Function::New(env, TapOpen)); }
