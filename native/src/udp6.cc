// IPv6 UDP sockets for the userspace VXLAN datapath's IPv6 half (flannel-v6.<VNI> over an IPv6 underlay): the calls
// of udp_batch.h for AF_INET6, with IPV6_V6ONLY (the IPv4 socket on the same port keeps its own traffic). An address
// crosses into JS as four host-order uint32 words, word 0 the most significant. No policy.
#include "modules.h"
#include "batch_io.h"
#include "udp_batch.h"

#include <netinet/in.h>

namespace {

struct Inet6 {
  using Addr = struct sockaddr_in6;
  static constexpr int kFamily = AF_INET6;
  static constexpr size_t kWords = 4;
  static constexpr const char* kBindUsage = "udp6Open: bindAddr must be a Uint32Array of 4 words";

  static void FromWords(const uint32_t* w, uint16_t port, Addr* a) {
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    for (int i = 0; i < 4; i++) {
      uint32_t be = htonl(w[i]);
      memcpy(a->sin6_addr.s6_addr + 4 * i, &be, 4);
    }
  }

  static void ToWords(const Addr& a, uint32_t* w) {
    for (int i = 0; i < 4; i++) {
      uint32_t be;
      memcpy(&be, a.sin6_addr.s6_addr + 4 * i, 4);
      w[i] = ntohl(be);
    }
  }

  static bool BindAddress(const Napi::Value& v, uint16_t port, Addr* a) {
    if (!v.IsTypedArray()) return false;
    size_t n;
    const uint32_t* w = TypedData<uint32_t>(v, &n);
    if (n < 4) return false;
    FromWords(w, port, a);
    return true;
  }

  static void BeforeBind(int fd) {
    int one = 1;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  }

  static std::string Describe(const Addr& a) {
    char text[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, &a.sin6_addr, text, sizeof text);
    return "[" + std::string(text) + "]:" + std::to_string(ntohs(a.sin6_port));
  }
};

}  // namespace

int RecvDatagrams6(int fd, uint8_t* slab, size_t slotSize, size_t maxSlots, int32_t* lengths, uint32_t* srcWords,
                   int32_t* gsoSizes) {
  return RecvDatagramsOf<Inet6>(fd, slab, slotSize, maxSlots, lengths, srcWords, gsoSizes);
}

void InitUdp6(Napi::Env env, Napi::Object exports) {
  exports.Set("udp6Open", Napi::Function::New(env, UdpOpenOf<Inet6>));
  exports.Set("recvBatch6", Napi::Function::New(env, RecvBatchOf<Inet6>));
  exports.Set("sendBatch6", Napi::Function::New(env, SendBatchOf<Inet6>));
}
