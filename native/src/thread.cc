// Scheduling of the calling thread, for the datapath loops: a loop thread that waits for a CPU behind busy
// processes adds that wait to every packet's latency, which the kernel's softirq path never pays.
#include "modules.h"

#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>

namespace {

// setThreadScheduling({nice?: number, fifoPriority?: number}) -> true when every requested change took effect.
// Applies to the calling thread only (a worker_thread calls it for itself).
Napi::Value SetThreadScheduling(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = info.Length() > 0 && info[0].IsObject() ? info[0].As<Napi::Object>() : Napi::Object::New(env);
  pid_t tid = static_cast<pid_t>(syscall(SYS_gettid));
  bool ok = true;
  if (o.Has("nice") && o.Get("nice").IsNumber()) {
    int nice = o.Get("nice").As<Napi::Number>().Int32Value();
    if (setpriority(PRIO_PROCESS, static_cast<id_t>(tid), nice) < 0) ok = false;
  }
  if (o.Has("fifoPriority") && o.Get("fifoPriority").IsNumber()) {
    struct sched_param sp;
    memset(&sp, 0, sizeof sp);
    sp.sched_priority = o.Get("fifoPriority").As<Napi::Number>().Int32Value();
    if (sched_setscheduler(tid, sp.sched_priority > 0 ? SCHED_FIFO : SCHED_OTHER, &sp) < 0) ok = false;
  }
  return Napi::Boolean::New(env, ok);
}

}  // namespace

void InitThread(Napi::Env env, Napi::Object exports) {
  exports.Set("setThreadScheduling", Napi::Function::New(env, SetThreadScheduling));
}
