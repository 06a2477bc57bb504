// UDP socket syscalls for the userspace VXLAN datapath: open/bind with buffer sizes and UDP_GRO, batched receive
// (recvmmsg, source addresses and GRO segment sizes written into caller tables) and batched send (sendmmsg with a
// UDP_SEGMENT cmsg per message). The calls are udp_batch.h's for AF_INET; an address is one host-order uint32.
// No policy.
#include "modules.h"
#include "batch_io.h"
#include "udp_batch.h"

#include <netinet/in.h>

namespace {

struct Inet4 {
  using Addr = struct sockaddr_in;
  static constexpr int kFamily = AF_INET;
  static constexpr size_t kWords = 1;
  static constexpr const char* kBindUsage = "udpOpen: bindAddr must be a host-order uint32";

  static void FromWords(const uint32_t* w, uint16_t port, Addr* a) {
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    a->sin_addr.s_addr = htonl(w[0]);
  }

  static void ToWords(const Addr& a, uint32_t* w) { w[0] = ntohl(a.sin_addr.s_addr); }

  static bool BindAddress(const Napi::Value& v, uint16_t port, Addr* a) {
    if (!v.IsNumber()) return false;
    uint32_t w = v.As<Napi::Number>().Uint32Value();
    FromWords(&w, port, a);
    return true;
  }

  static void BeforeBind(int) {}

  static std::string Describe(const Addr& a) {
    char text[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a.sin_addr, text, sizeof text);
    return std::string(text) + ":" + std::to_string(ntohs(a.sin_port));
  }
};

}  // namespace

int RecvDatagrams(int fd, uint8_t* slab, size_t slotSize, size_t maxSlots, int32_t* lengths, uint32_t* srcAddrs,
                  int32_t* gsoSizes) {
  return RecvDatagramsOf<Inet4>(fd, slab, slotSize, maxSlots, lengths, srcAddrs, gsoSizes);
}

// udpOpen(bindAddr: uint32, port, opts), recvBatch(…, srcAddrs: Uint32Array, …), sendBatch(…, dstAddrs:
// Uint32Array, …): see udp_batch.h.
void InitUdp(Napi::Env env, Napi::Object exports) {
  exports.Set("udpOpen", Napi::Function::New(env, UdpOpenOf<Inet4>));
  exports.Set("recvBatch", Napi::Function::New(env, RecvBatchOf<Inet4>));
  exports.Set("sendBatch", Napi::Function::New(env, SendBatchOf<Inet4>));
}
