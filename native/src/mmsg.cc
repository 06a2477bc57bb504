// See mmsg.h.
#include "mmsg.h"
#include "napi_util.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <string.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

int ApplyUdpOptions(int fd, const Napi::Object& opts) {
  int one = 1;
  if (BoolOpt(opts, "reusePort")) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  int rcv = static_cast<int>(IntOpt(opts, "rcvbuf", 0));
  if (rcv > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv) < 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  }
  int snd = static_cast<int>(IntOpt(opts, "sndbuf", 0));
  if (snd > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &snd, sizeof snd) < 0) {
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, sizeof snd);
  }
  if (BoolOpt(opts, "gro") && setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof one) < 0) return errno;
  return 0;
}

void PrepareMessage(struct mmsghdr* m, struct iovec* iov, void* name, socklen_t nameLen, uint8_t* data, size_t len,
                    char* control, int32_t gso) {
  memset(m, 0, sizeof *m);
  iov->iov_base = data;
  iov->iov_len = len;
  m->msg_hdr.msg_name = name;
  m->msg_hdr.msg_namelen = nameLen;
  m->msg_hdr.msg_iov = iov;
  m->msg_hdr.msg_iovlen = 1;
  if (control == nullptr) return;
  m->msg_hdr.msg_control = control;
  m->msg_hdr.msg_controllen = kMmsgControlLen;
  if (gso < 0) return;  // receive: room for the UDP_GRO cmsg
  if (gso == 0 || static_cast<size_t>(gso) >= len) {
    m->msg_hdr.msg_control = nullptr;
    m->msg_hdr.msg_controllen = 0;
    return;
  }
  m->msg_hdr.msg_controllen = CMSG_SPACE(sizeof(uint16_t));
  struct cmsghdr* c = CMSG_FIRSTHDR(&m->msg_hdr);
  c->cmsg_level = SOL_UDP;
  c->cmsg_type = UDP_SEGMENT;
  c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
  uint16_t seg = static_cast<uint16_t>(gso);
  memcpy(CMSG_DATA(c), &seg, sizeof seg);
}

int32_t GroSizeOf(struct msghdr* h) {
  for (struct cmsghdr* c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
    if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
      int gso;
      memcpy(&gso, CMSG_DATA(c), sizeof gso);
      return gso;
    }
  }
  return 0;
}

size_t SendMessages(int fd, struct mmsghdr* msgs, size_t k) {
  size_t done = 0, sent = 0;
  int retries = 0;
  while (done < k) {
    int r = sendmmsg(fd, msgs + done, static_cast<unsigned>(k - done), 0);
    if (r > 0) {
      done += r;
      sent += r;
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && errno == EAGAIN && retries++ < 100) {
      struct pollfd p = {fd, POLLOUT, 0};
      poll(&p, 1, 10);
      continue;
    }
    done++;  // the kernel refused this message (EMSGSIZE, EINVAL, ENETUNREACH…): skip it
  }
  return sent;
}

int ReceiveMessages(int fd, struct mmsghdr* msgs, size_t n) {
  int got;
  do {
    got = recvmmsg(fd, msgs, static_cast<unsigned>(n), MSG_DONTWAIT, nullptr);
  } while (got < 0 && errno == EINTR);
  if (got < 0) return errno == EAGAIN ? 0 : -errno;
  return got;
}
