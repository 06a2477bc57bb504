#include "modules.h"

void InitUdp(Napi::Env env, Napi::Object exports) {}
