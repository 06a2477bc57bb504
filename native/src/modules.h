// Each source file registers its functions on the addon's exports. Syscall-shaped, no policy.
#pragma once
#include <napi.h>

void InitTun(Napi::Env env, Napi::Object exports);
void InitUdp(Napi::Env env, Napi::Object exports);
void InitThread(Napi::Env env, Napi::Object exports);
void InitChecksum(Napi::Env env, Napi::Object exports);
void InitNotify(Napi::Env env, Napi::Object exports);
void InitLoopIo(Napi::Env env, Napi::Object exports);
void InitSegment(Napi::Env env, Napi::Object exports);
void InitReload(Napi::Env env, Napi::Object exports);
void InitTap(Napi::Env env, Napi::Object exports);
void InitUdp6(Napi::Env env, Napi::Object exports);
void InitWake(Napi::Env env, Napi::Object exports);
void InitTrim(Napi::Env env, Napi::Object exports);
// wake.cc: empties a loop's wake-up eventfd (loop_io.cc).
void DrainWakeFd(int fd);
void InitPacket(Napi::Env env, Napi::Object exports);
