// A wake-up fd for a datapath loop asleep in poll (loop_io.cc): the main thread signals it when it posts peer updates
// or sets the stop flag, so an idle loop can sleep for seconds instead of waking every few milliseconds to look.
// An eventfd: a signal is never lost, and several signals before the loop reads it are one wake-up.
#include "modules.h"
#include "napi_util.h"

#include <errno.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace {

// wakeFdOpen() -> fd (non-blocking, close-on-exec); close it with closeFd.
Napi::Value WakeFdOpen(const Napi::CallbackInfo& info) {
  int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) return ThrowErrno(info.Env(), "eventfd", errno);
  return Napi::Number::New(info.Env(), fd);
}

// wakeFdSignal(fd): the sleeping loop's poll returns. EAGAIN (the counter full) means a wake-up is pending anyway.
Napi::Value WakeFdSignal(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  uint64_t one = 1;
  ssize_t n;
  do n = write(fd, &one, sizeof one); while (n < 0 && errno == EINTR);
  if (n < 0 && errno != EAGAIN) return ThrowErrno(info.Env(), "eventfd write", errno);
  return info.Env().Undefined();
}

}  // namespace

// Empties the counter, so the next poll sleeps again. For loop_io.cc, on the loop's own thread.
void DrainWakeFd(int fd) {
  uint64_t count;
  ssize_t n;
  do n = read(fd, &count, sizeof count); while (n < 0 && errno == EINTR);
}

void InitWake(Napi::Env env, Napi::Object exports) {
  exports.Set("wakeFdOpen", Napi::Function::New(env, WakeFdOpen));
  exports.Set("wakeFdSignal", Napi::Function::New(env, WakeFdSignal));
}
