#include "modules.h"

void InitNotify(Napi::Env env, Napi::Object exports) {}
