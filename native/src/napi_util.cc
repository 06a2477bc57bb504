#include "napi_util.h"

#include <string.h>

Napi::Value ThrowErrno(Napi::Env env, const std::string& what, int err) {
  Napi::Error e = Napi::Error::New(env, what + ": " + strerror(err));
  e.Set("errno", Napi::Number::New(env, err));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

bool BoolOpt(const Napi::Object& o, const char* key) {
  return o.Has(key) && o.Get(key).ToBoolean().Value();
}

uint32_t IntOpt(const Napi::Object& o, const char* key, uint32_t dflt) {
  return o.Has(key) && o.Get(key).IsNumber() ? o.Get(key).As<Napi::Number>().Uint32Value() : dflt;
}

uint8_t* BytesData(const Napi::Value& v, size_t* len) {
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  *len = ta.ByteLength();
  return static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
}
