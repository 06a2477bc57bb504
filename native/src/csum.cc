// The per-byte work of the datapath that JavaScript does too slowly: the Internet checksum sum over a byte range
// (segmenting a 64 KiB TSO frame sums every byte once). Returns the folded 16-bit big-endian ones' complement sum.
#include "modules.h"
#include "csum.h"

#include <stdint.h>
#include <string.h>

uint32_t FoldedSum(const uint8_t* p, size_t n) {
  uint64_t sum = 0;
  // Sum in native (little-endian) order; ones' complement addition is byte-order independent up to a final swap.
  while (n >= 8) {
    uint64_t v;
    memcpy(&v, p, 8);
    sum += (v & 0xffffffffu) + (v >> 32);
    p += 8;
    n -= 8;
  }
  if (n >= 4) {
    uint32_t v;
    memcpy(&v, p, 4);
    sum += v;
    p += 4;
    n -= 4;
  }
  if (n >= 2) {
    uint16_t v;
    memcpy(&v, p, 2);
    sum += v;
    p += 2;
    n -= 2;
  }
  if (n) sum += *p;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  uint16_t s = static_cast<uint16_t>(sum);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  s = static_cast<uint16_t>((s >> 8) | (s << 8));
#endif
  return s;
}

namespace {

// checksumSum(buf: Uint8Array, off, len) -> folded big-endian 16-bit sum of buf[off, off+len).
Napi::Value ChecksumSum(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::TypedArray ta = info[0].As<Napi::TypedArray>();
  size_t total = ta.ByteLength();
  const uint8_t* data = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  size_t off = info[1].As<Napi::Number>().Uint32Value();
  size_t len = info[2].As<Napi::Number>().Uint32Value();
  if (off > total || len > total - off) {
    Napi::RangeError::New(env, "checksumSum: range outside the buffer").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, FoldedSum(data + off, len));
}

}  // namespace

void InitChecksum(Napi::Env env, Napi::Object exports) {
  exports.Set("checksumSum", Napi::Function::New(env, ChecksumSum));
}
