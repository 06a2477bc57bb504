// TCP segmentation of a TSO super-packet, the datapath's largest per-byte job: every payload byte is copied once
// and summed once, and doing it here in one call per frame replaces ~3 typed-array copies and a checksum call per
// segment from JS (measured: the N-API crossings of the per-segment sums cost as much as the sums themselves).
// One core for both families: IPv4 (segmentTcp4) and IPv6 without extension headers (segmentTcp6, the IPv6 half
// of the datapath). The policy stays in src/datapath: which packets to segment, the MSS, where the output goes.
#include "modules.h"
#include "csum.h"
#include "napi_util.h"

#include <stdint.h>
#include <string.h>

namespace {

constexpr size_t kPrefixLen = 22;  // inner Ethernet (14) + VXLAN (8), see src/datapath/wire.ts
constexpr uint8_t kTcp = 6;
constexpr uint8_t kTcpFin = 0x01, kTcpPsh = 0x08, kTcpCwr = 0x80;

uint64_t Sum(const uint8_t* p, size_t n, uint64_t sum) { return sum + FoldedSum(p, n); }

uint16_t Finish(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum & 0xffff);
}

void Put16(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

void Put32(uint8_t* p, uint32_t v) {
  Put16(p, v >> 16);
  Put16(p + 2, v);
}

uint32_t Get32(const uint8_t* p) { return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (p[2] << 8) | p[3]; }

// The IP header length of a TCP packet of this family at src (0: not one), and the sum of its pseudo-header's
// addresses and protocol (the same for every segment; only the length varies).
size_t IpHeaderLen(const uint8_t* src, size_t len, bool v6, uint64_t* pseudoBase) {
  if (v6) {
    if (len < 40 || (src[0] >> 4) != 6 || src[6] != kTcp) return 0;
    *pseudoBase = Sum(src + 8, 32, kTcp);
    return 40;
  }
  if ((src[0] >> 4) != 4 || src[9] != kTcp) return 0;
  *pseudoBase = Sum(src + 12, 8, kTcp);
  return (src[0] & 0x0f) * 4u;
}

// Per segment i of an IPv4 packet: total length, id (+i), header checksum. IPv6 has only its payload length.
void FinishIpHeader(uint8_t* oip, size_t ipHdr, size_t l4Len, bool v6, uint32_t id0, size_t i) {
  if (v6) {
    Put16(oip + 4, static_cast<uint32_t>(l4Len));
    return;
  }
  Put16(oip + 2, static_cast<uint32_t>(ipHdr + l4Len));
  Put16(oip + 4, (id0 + i) & 0xffff);
  oip[10] = oip[11] = 0;
  Put16(oip + 10, Finish(Sum(oip, ipHdr, 0)));
}

// segmentTcp4|6(buf, ip, len, mss, prefixOff, outOff, outEnd, layout: Int32Array(2)) -> segments written, 0 when
// buf[ip, ip+len) is not a TCP packet of the family with room for its headers or the output would pass outEnd. The
// TCP rules live here only: the caller gets the layout it needs for the send in layout = [bytes of every segment
// but the last (prefix included), bytes written] and parses no header itself. Segment i goes to the output area
// back to back: the 22-byte prefix at buf[prefixOff], the IP and TCP headers, payload bytes [i*mss, (i+1)*mss).
// Per segment: the IP header's lengths (and IPv4's id and checksum); TCP sequence number (+i*mss), FIN/PSH only on
// the last, CWR only on the first, full checksum. The caller's ranges must not overlap the output area.
Napi::Value SegmentTcp(const Napi::CallbackInfo& info, bool v6) {
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
  if (layoutCount < 2 || ip + len > size || prefixOff + kPrefixLen > size || outEnd > size || mss == 0 || len < 40) return none;
  const uint8_t* src = buf + ip;
  uint64_t pseudoBase = 0;
  size_t ipHdr = IpHeaderLen(src, len, v6, &pseudoBase);
  if (ipHdr < 20 || ipHdr + 20 > len) return none;
  size_t tcpHdr = (src[ipHdr + 12] >> 4) * 4u;
  size_t hdrLen = ipHdr + tcpHdr;
  if (tcpHdr < 20 || hdrLen > len) return none;
  size_t payloadTotal = len - hdrLen;
  size_t count = payloadTotal == 0 ? 1 : (payloadTotal + mss - 1) / mss;
  if (outOff + count * (kPrefixLen + hdrLen) + payloadTotal > outEnd) return none;
  uint32_t id0 = (src[4] << 8) | src[5];
  uint32_t seq0 = Get32(src + ipHdr + 4);
  uint8_t flags0 = src[ipHdr + 13];
  uint8_t* o = buf + outOff;
  for (size_t i = 0; i < count; i++) {
    size_t payloadOff = i * mss;
    size_t payloadLen = payloadTotal - payloadOff < mss ? payloadTotal - payloadOff : mss;
    memcpy(o, buf + prefixOff, kPrefixLen);
    uint8_t* oip = o + kPrefixLen;
    memcpy(oip, src, hdrLen);
    memcpy(oip + hdrLen, src + hdrLen + payloadOff, payloadLen);
    size_t l4Len = tcpHdr + payloadLen;
    FinishIpHeader(oip, ipHdr, l4Len, v6, id0, i);
    uint8_t* tcp = oip + ipHdr;
    Put32(tcp + 4, seq0 + static_cast<uint32_t>(payloadOff));
    uint8_t flags = flags0;
    if (i != count - 1) flags &= static_cast<uint8_t>(~(kTcpFin | kTcpPsh));
    if (i != 0) flags &= static_cast<uint8_t>(~kTcpCwr);
    tcp[13] = flags;
    tcp[16] = tcp[17] = 0;
    Put16(tcp + 16, Finish(Sum(tcp, l4Len, pseudoBase + l4Len)));
    o += kPrefixLen + hdrLen + payloadLen;
  }
  layout[0] = static_cast<int32_t>(kPrefixLen + hdrLen + (payloadTotal < mss ? payloadTotal : mss));
  layout[1] = static_cast<int32_t>(o - (buf + outOff));
  return Napi::Number::New(env, static_cast<double>(count));
}

Napi::Value SegmentTcp4(const Napi::CallbackInfo& info) { return SegmentTcp(info, false); }
Napi::Value SegmentTcp6(const Napi::CallbackInfo& info) { return SegmentTcp(info, true); }

}  // namespace

void InitSegment(Napi::Env env, Napi::Object exports) {
  exports.Set("segmentTcp4", Napi::Function::New(env, SegmentTcp4));
  exports.Set("segmentTcp6", Napi::Function::New(env, SegmentTcp6));
}
