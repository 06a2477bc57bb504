// sd_notify(3) without libsystemd: one datagram on an AF_UNIX socket named by $NOTIFY_SOCKET.
// Node has no unix datagram sockets, hence this file.
#include "modules.h"

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace {

// Returns 0 when sent, a positive errno otherwise. An '@' first character names an abstract socket.
int SendNotify(const std::string& path, const std::string& state) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) return EINVAL;
  std::memcpy(addr.sun_path, path.data(), path.size());
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';
  const socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());

  const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  ssize_t sent;
  do {
    sent = sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&addr), len);
  } while (sent < 0 && errno == EINTR);
  const int err = sent < 0 ? errno : 0;
  close(fd);
  return err;
}

// sdNotify(state: string, socketPath?: string): boolean
// false when no socket is named (no path given and NOTIFY_SOCKET unset or empty); throws on a send error.
Napi::Value SdNotify(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "sdNotify(state: string, socketPath?: string)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path;
  if (info.Length() >= 2 && info[1].IsString()) {
    path = info[1].As<Napi::String>().Utf8Value();
  } else {
    const char* fromEnv = std::getenv("NOTIFY_SOCKET");
    if (fromEnv != nullptr) path = fromEnv;
  }
  if (path.empty()) return Napi::Boolean::New(env, false);
  const int err = SendNotify(path, info[0].As<Napi::String>().Utf8Value());
  if (err != 0) {
    Napi::Error e = Napi::Error::New(env, std::string("sd_notify to ") + path + ": " + std::strerror(err));
    e.Set("errno", Napi::Number::New(env, err));
    e.ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Boolean::New(env, true);
}

}  // namespace

void InitNotify(Napi::Env env, Napi::Object exports) {
  exports.Set("sdNotify", Napi::Function::New(env, SdNotify, "sdNotify"));
}
