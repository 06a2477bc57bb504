// AF_PACKET sockets bound to one device, every protocol, both directions: what the e2e capture of the tunnel-GSO
// path reads (the frames the kernel put on the underlay after segmenting ours, and the TSO frames it queued to the
// TUN). Frames are read with readBatch (a read() per frame); nothing here is on the datapath.
#include "modules.h"
#include "napi_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

namespace {

// packetOpen(ifname, rcvbuf, vnetHdr) -> fd: non-blocking, bound to the device, SO_RCVBUFFORCE'd so that a burst of
// 64 KiB frames is kept. With vnetHdr each frame comes after the 10-byte virtio_net_hdr the kernel derives from the
// skb (PACKET_VNET_HDR): for a TUN, the same header the TUN hands its reader, GSO size included, which the frame
// itself does not show.
Napi::Value PacketOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  int rcvbuf = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 8 << 20;
  unsigned index = if_nametoindex(name.c_str());
  if (index == 0) return ThrowErrno(env, "if_nametoindex " + name, errno);
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
  if (fd < 0) return ThrowErrno(env, "socket(AF_PACKET)", errno);
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);
  int vnet = info.Length() > 2 && info[2].IsBoolean() && info[2].As<Napi::Boolean>().Value() ? 1 : 0;
  if (vnet != 0 && setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &vnet, sizeof vnet) != 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, "setsockopt(PACKET_VNET_HDR) " + name, err);
  }
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = static_cast<int>(index);
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&sll), sizeof sll) != 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, "bind(AF_PACKET) " + name, err);
  }
  return Napi::Number::New(env, fd);
}

}  // namespace

void InitPacket(Napi::Env env, Napi::Object exports) {
  exports.Set("packetOpen", Napi::Function::New(env, PacketOpen));
}
