// See busy_poll.h.
#include "busy_poll.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef SO_BUSY_POLL
#define SO_BUSY_POLL 46
#endif
#ifndef SO_PREFER_BUSY_POLL
#define SO_PREFER_BUSY_POLL 69
#endif
#ifndef SO_BUSY_POLL_BUDGET
#define SO_BUSY_POLL_BUDGET 70
#endif

namespace {

// linux/eventpoll.h of 6.9; the C library's headers here predate it.
struct EpollParams {
  uint32_t busy_poll_usecs;
  uint16_t busy_poll_budget;
  uint8_t prefer_busy_poll;
  uint8_t pad;
};
constexpr unsigned long kEpiocsParams = _IOW(0x8A, 0x01, struct EpollParams);

}  // namespace

int ApplySocketBusyPoll(int fd, const BusyPoll& bp) {
  int usecs = static_cast<int>(bp.micros);
  if (setsockopt(fd, SOL_SOCKET, SO_BUSY_POLL, &usecs, sizeof usecs) < 0) return errno;
  if (bp.budget > 0) {
    int budget = bp.budget;
    if (setsockopt(fd, SOL_SOCKET, SO_BUSY_POLL_BUDGET, &budget, sizeof budget) < 0) return errno;
  }
  int prefer = bp.prefer ? 1 : 0;
  if (setsockopt(fd, SOL_SOCKET, SO_PREFER_BUSY_POLL, &prefer, sizeof prefer) < 0) return errno;
  return 0;
}

int SetEpollBusyMicros(int ep, uint32_t micros, const BusyPoll& bp) {
  EpollParams p = {micros, bp.budget, static_cast<uint8_t>(bp.prefer ? 1 : 0), 0};
  return ioctl(ep, kEpiocsParams, &p) < 0 ? -errno : 0;
}

int OpenBusyEpoll(const int* fds, int n, const BusyPoll& bp) {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) return -errno;
  for (int i = 0; i < n; i++) {
    struct epoll_event ev = {};
    ev.events = EPOLLIN;
    ev.data.u32 = static_cast<uint32_t>(i);
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) < 0) {
      int err = errno;
      close(ep);
      return -err;
    }
  }
  if (int err = SetEpollBusyMicros(ep, bp.micros, bp)) {
    close(ep);
    return err;
  }
  return ep;
}
