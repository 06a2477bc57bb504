// Argument and error helpers shared by the addon's source files (one definition each).
#pragma once
#include <napi.h>
#include <stddef.h>
#include <stdint.h>

#include <string>

// Throws Error("<what>: <strerror>") with an `errno` property (the TypeScript side branches on it, e.g. EINVAL,
// EBADFD); returns undefined for the caller to return.
Napi::Value ThrowErrno(Napi::Env env, const std::string& what, int err);

bool BoolOpt(const Napi::Object& o, const char* key);
uint32_t IntOpt(const Napi::Object& o, const char* key, uint32_t dflt);

// The bytes of a typed array argument and their count.
uint8_t* BytesData(const Napi::Value& v, size_t* len);

// The elements of a typed array argument viewed as T, and their count.
template <typename T>
T* TypedData(const Napi::Value& v, size_t* count) {
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  *count = ta.ByteLength() / sizeof(T);
  return reinterpret_cast<T*>(static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset());
}
