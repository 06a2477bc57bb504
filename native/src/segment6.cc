// TCP segmentation of a TSO6 super-packet (inner TCP over IPv6, no extension headers) for the IPv6 half of the
// userspace VXLAN datapath. The IPv6 differences from segment.cc: no header checksum and no IP id, the payload
// length field instead of a total length, and the 40-byte pseudo-header of RFC 8200 §8.1. One call per frame; the
// policy (which packets, the MSS, where the output goes) stays in src/datapath/encap6.ts.
#include "modules.h"
#include "csum.h"
#include "napi_util.h"

#include <stdint.h>
#include <string.h>

namespace {

constexpr size_t kPrefixLen = 22;  // VXLAN (8) + inner Ethernet (14), see src/datapath/wire.ts
constexpr size_t kIp6Hdr = 40;
constexpr uint8_t kNextTcp = 6;
constexpr uint8_t kFin = 0x01, kPsh = 0x08, kCwr = 0x80;

uint16_t Complement(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum & 0xffff);
}

void Be16(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

// segmentTcp6(buf, ip, len, mss, prefixOff, outOff, outEnd, layout: Int32Array(2)) -> segments written (0: not a
// TCP/IPv6 packet without extension headers, or no room). Segment i: the prefix at buf[prefixOff], the IPv6 and
// TCP headers with payload length and sequence number set, FIN/PSH on the last only, CWR on the first only, a full
// TCP checksum, then payload bytes [i*mss, (i+1)*mss). layout = [bytes of every segment but the last, bytes written].
Napi::Value SegmentTcp6(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  size_t size, layoutCount;
  uint8_t* buf = BytesData(info[0], &size);
  size_t ip = info[1].As<Napi::Number>().Uint32Value();
  size_t len = info[2].As<Napi::Number>().Uint32Value();
  size_t mss = info[3].As<Napi::Number>().Uint32Value();
  size_t prefixOff = info[4].As<Napi::Number>().Uint32Value();
  size_t outOff = info[5].As<Napi::Number>().Uint32Value();
  size_t outEnd = info[6].As<Napi::Number>().Uint32Value();
  int32_t* layout = TypedData<int32_t>(info[7], &layoutCount);
  auto none = Napi::Number::New(env, 0);
  if (layoutCount < 2 || ip + len > size || prefixOff + kPrefixLen > size || outEnd > size || mss == 0) return none;
  if (len < kIp6Hdr + 20) return none;
  const uint8_t* src = buf + ip;
  if ((src[0] >> 4) != 6 || src[6] != kNextTcp) return none;
  size_t tcpHdr = (src[kIp6Hdr + 12] >> 4) * 4u;
  size_t hdrLen = kIp6Hdr + tcpHdr;
  if (tcpHdr < 20 || hdrLen > len) return none;
  size_t payloadTotal = len - hdrLen;
  size_t count = payloadTotal == 0 ? 1 : (payloadTotal + mss - 1) / mss;
  if (outOff + count * (kPrefixLen + hdrLen) + payloadTotal > outEnd) return none;
  const uint8_t* tcp0 = src + kIp6Hdr;
  uint32_t seq0 = (uint32_t(tcp0[4]) << 24) | (uint32_t(tcp0[5]) << 16) | (uint32_t(tcp0[6]) << 8) | tcp0[7];
  uint8_t flags0 = tcp0[13];
  uint64_t pseudoBase = FoldedSum(src + 8, 32) + kNextTcp;
  uint8_t* o = buf + outOff;
  for (size_t i = 0; i < count; i++) {
    size_t payloadOff = i * mss;
    size_t payloadLen = payloadTotal - payloadOff < mss ? payloadTotal - payloadOff : mss;
    memcpy(o, buf + prefixOff, kPrefixLen);
    uint8_t* oip = o + kPrefixLen;
    memcpy(oip, src, hdrLen);
    memcpy(oip + hdrLen, src + hdrLen + payloadOff, payloadLen);
    size_t l4Len = tcpHdr + payloadLen;
    Be16(oip + 4, static_cast<uint32_t>(l4Len));
    uint8_t* tcp = oip + kIp6Hdr;
    uint32_t seq = seq0 + static_cast<uint32_t>(payloadOff);
    Be16(tcp + 4, seq >> 16);
    Be16(tcp + 6, seq);
    uint8_t flags = flags0;
    if (i != count - 1) flags &= static_cast<uint8_t>(~(kFin | kPsh));
    if (i != 0) flags &= static_cast<uint8_t>(~kCwr);
    tcp[13] = flags;
    tcp[16] = tcp[17] = 0;
    Be16(tcp + 16, Complement(pseudoBase + l4Len + FoldedSum(tcp, l4Len)));
    o += kPrefixLen + hdrLen + payloadLen;
  }
  layout[0] = static_cast<int32_t>(kPrefixLen + hdrLen + (payloadTotal < mss ? payloadTotal : mss));
  layout[1] = static_cast<int32_t>(o - (buf + outOff));
  return Napi::Number::New(env, static_cast<double>(count));
}

}  // namespace

void InitSegment6(Napi::Env env, Napi::Object exports) {
  exports.Set("segmentTcp6", Napi::Function::New(env, SegmentTcp6));
}
