// What a reload needs from the kernel and Node cannot do: keep fds open across an exec (FD_CLOEXEC), replace the
// process image in place (execve keeps the PID, so systemd's main PID and NotifyAccess=main stay valid), send fds
// to systemd's fd store (SCM_RIGHTS on $NOTIFY_SOCKET), and check what an inherited fd is before adopting it.
#include "modules.h"
#include "napi_util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace {

// fdSetCloexec(fd, on): sets or clears FD_CLOEXEC.
Napi::Value FdSetCloexec(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  bool on = info[1].As<Napi::Boolean>().Value();
  int flags = fcntl(fd, F_GETFD);
  if (flags < 0) return ThrowErrno(env, "fcntl F_GETFD " + std::to_string(fd), errno);
  flags = on ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC);
  if (fcntl(fd, F_SETFD, flags) < 0) return ThrowErrno(env, "fcntl F_SETFD " + std::to_string(fd), errno);
  return env.Undefined();
}

std::vector<std::string> Strings(const Napi::Value& v) {
  std::vector<std::string> out;
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) out.push_back(a.Get(i).As<Napi::String>().Utf8Value());
  return out;
}

std::vector<char*> Pointers(std::vector<std::string>& s) {
  std::vector<char*> p;
  for (auto& x : s) p.push_back(&x[0]);
  p.push_back(nullptr);
  return p;
}

// execve(path, argv: string[], env: string[]): returns only on failure, by throwing.
Napi::Value Execve(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>().Utf8Value();
  std::vector<std::string> argv = Strings(info[1]);
  std::vector<std::string> envv = Strings(info[2]);
  std::vector<char*> argp = Pointers(argv);
  std::vector<char*> envp = Pointers(envv);
  execve(path.c_str(), argp.data(), envp.data());
  return ThrowErrno(env, "execve " + path, errno);
}

// sdNotifyFds(state, fds: number[], socketPath): one datagram with the fds attached (SCM_RIGHTS).
Napi::Value SdNotifyFds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string state = info[0].As<Napi::String>().Utf8Value();
  Napi::Array arr = info[1].As<Napi::Array>();
  std::string path = info[2].As<Napi::String>().Utf8Value();
  std::vector<int> fds;
  for (uint32_t i = 0; i < arr.Length(); i++) fds.push_back(arr.Get(i).As<Napi::Number>().Int32Value());
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path) || fds.empty() || fds.size() > 253) {
    return ThrowErrno(env, "sd_notify with fds to " + path, EINVAL);
  }
  memcpy(addr.sun_path, path.data(), path.size());
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';
  socklen_t alen = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
  std::vector<char> control(CMSG_SPACE(sizeof(int) * fds.size()));
  iovec iov{const_cast<char*>(state.data()), state.size()};
  msghdr msg{};
  msg.msg_name = &addr;
  msg.msg_namelen = alen;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
  memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return ThrowErrno(env, "socket AF_UNIX", errno);
  ssize_t r;
  do {
    r = sendmsg(s, &msg, MSG_NOSIGNAL);
  } while (r < 0 && errno == EINTR);
  int err = r < 0 ? errno : 0;
  close(s);
  if (err != 0) return ThrowErrno(env, "sd_notify with fds to " + path, err);
  return Napi::Boolean::New(env, true);
}

// fdDescribe(fd) -> {kind: 'tun', name, multiQueue, vnetHdr} | {kind: 'udp', port, family} | {kind: 'other'};
// throws EBADF for a closed fd. Lets an adopting process refuse an fd that is not what the handover says.
Napi::Value FdDescribe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  if (fcntl(fd, F_GETFD) < 0) return ThrowErrno(env, "fd " + std::to_string(fd), errno);
  Napi::Object out = Napi::Object::New(env);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (ioctl(fd, TUNGETIFF, &ifr) == 0) {
    out.Set("kind", "tun");
    out.Set("name", Napi::String::New(env, ifr.ifr_name));
    out.Set("multiQueue", Napi::Boolean::New(env, (ifr.ifr_flags & IFF_MULTI_QUEUE) != 0));
    out.Set("vnetHdr", Napi::Boolean::New(env, (ifr.ifr_flags & IFF_VNET_HDR) != 0));
    return out;
  }
  int type = 0;
  socklen_t tlen = sizeof type;
  // Storage for either family: the IPv6 half (flannel-v6.<VNI>) hands over AF_INET6 sockets.
  sockaddr_storage ss{};
  socklen_t slen = sizeof ss;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) == 0 && type == SOCK_DGRAM &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &slen) == 0 &&
      (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)) {
    const bool v6 = ss.ss_family == AF_INET6;
    uint16_t port = v6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port : reinterpret_cast<sockaddr_in*>(&ss)->sin_port;
    out.Set("kind", "udp");
    out.Set("port", Napi::Number::New(env, ntohs(port)));
    out.Set("family", Napi::Number::New(env, v6 ? 6 : 4));
    return out;
  }
  out.Set("kind", "other");
  return out;
}

}  // namespace

void InitReload(Napi::Env env, Napi::Object exports) {
  exports.Set("fdSetCloexec", Napi::Function::New(env, FdSetCloexec));
  exports.Set("execve", Napi::Function::New(env, Execve));
  exports.Set("sdNotifyFds", Napi::Function::New(env, SdNotifyFds));
  exports.Set("fdDescribe", Napi::Function::New(env, FdDescribe));
}
