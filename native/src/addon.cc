#include "modules.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InitTun(env, exports);
  InitUdp(env, exports);
  InitThread(env, exports);
  InitChecksum(env, exports);
  InitNotify(env, exports);
  InitLoopIo(env, exports);
  InitSegment(env, exports);
  InitReload(env, exports);
  InitTap(env, exports);
  InitUdp6(env, exports);
  InitWake(env, exports);
  InitTrim(env, exports);
  InitPacket(env, exports);
  return exports;
}

NODE_API_MODULE(tsflanneld_native, Init)
