#include "modules.h"

void InitTun(Napi::Env env, Napi::Object exports) {}
