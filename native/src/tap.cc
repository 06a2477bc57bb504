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
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <arpa/inet.h>
#include <stdio.h>
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
  snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
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

// The device's ifindex, or -1 with errno set.
int IfIndex(const char* name) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
  int index = ioctl(s, SIOCGIFINDEX, &ifr) == 0 ? ifr.ifr_ifindex : -1;
  CloseKeepErrno(s);
  return index;
}

// Adds addr/32 with host scope to device `index` over rtnetlink (replacing it when present); false with errno set.
// Netlink, not SIOCSIFADDR: that ioctl would first give the address its classful /16 and a route with it.
bool AddHostAddress(int index, uint32_t addrBe) {
  int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (s < 0) return false;
  struct {
    struct nlmsghdr nh;
    struct ifaddrmsg ifa;
    char attrs[2 * RTA_SPACE(4)];
  } req;
  memset(&req, 0, sizeof req);
  req.nh.nlmsg_len = NLMSG_LENGTH(sizeof req.ifa);
  req.nh.nlmsg_type = RTM_NEWADDR;
  req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
  req.nh.nlmsg_seq = 1;
  req.ifa.ifa_family = AF_INET;
  req.ifa.ifa_prefixlen = 32;
  req.ifa.ifa_scope = RT_SCOPE_HOST;
  req.ifa.ifa_index = static_cast<unsigned>(index);
  for (unsigned short type : {IFA_LOCAL, IFA_ADDRESS}) {
    char* end = reinterpret_cast<char*>(&req) + NLMSG_ALIGN(req.nh.nlmsg_len);
    struct rtattr* rta = reinterpret_cast<struct rtattr*>(end);
    rta->rta_type = type;
    rta->rta_len = RTA_LENGTH(4);
    memcpy(RTA_DATA(rta), &addrBe, 4);
    req.nh.nlmsg_len = NLMSG_ALIGN(req.nh.nlmsg_len) + RTA_SPACE(4);
  }
  bool ok = send(s, &req, req.nh.nlmsg_len, 0) == static_cast<ssize_t>(req.nh.nlmsg_len);
  if (ok) {
    char buf[512];
    ssize_t n = recv(s, buf, sizeof buf, 0);
    struct nlmsghdr* h = reinterpret_cast<struct nlmsghdr*>(buf);
    ok = n >= static_cast<ssize_t>(NLMSG_LENGTH(sizeof(struct nlmsgerr))) && h->nlmsg_type == NLMSG_ERROR;
    if (ok) {
      int err = -reinterpret_cast<struct nlmsgerr*>(NLMSG_DATA(h))->error;
      if (err != 0) {
        errno = err;
        ok = false;
      }
    } else if (n >= 0) {
      errno = EPROTO;
    }
  }
  CloseKeepErrno(s);
  return ok;
}

// tapOpen(name, {vnetHdrSize, offload, multiQueue, persist, up, hostAddress}) -> {fd, name, mac: number[6]};
// non-blocking fd. hostAddress (host-order uint32, 0: none) is added as a /32 of host scope once the device is up.
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
  uint32_t hostAddress = IntOpt(opts, "hostAddress", 0);
  if (ok && hostAddress != 0) {
    step = "add host address to";
    int index = IfIndex(ifr.ifr_name);
    ok = index > 0 && AddHostAddress(index, htonl(hostAddress));
  }
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
