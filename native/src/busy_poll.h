// Kernel busy polling for the datapath's receive sockets and loop waits: the waiting thread runs the underlay's NAPI
// poll itself instead of sleeping until a softirq (on a real NIC: after an interrupt) queues the datagram and wakes
// it. It applies only where the datagram came through a NAPI context that has an id (a NIC's queue; a veth with GRO
// on); elsewhere the kernel ignores it. No policy.
#pragma once
#include <stdint.h>

struct BusyPoll {
  uint32_t micros = 0;  // 0: off
  uint16_t budget = 0;  // packets per NAPI poll; 0: the kernel's default (8)
  bool prefer = false;  // SO_PREFER_BUSY_POLL / epoll prefer_busy_poll: keep softirq processing off while polling
};

// SO_BUSY_POLL, SO_BUSY_POLL_BUDGET, SO_PREFER_BUSY_POLL on a socket; 0 or the errno of the first refused option.
int ApplySocketBusyPoll(int fd, const BusyPoll& bp);

// An epoll instance over fds[0, n) (event data = index), with EPIOCSPARAMS from bp (Linux >= 6.9); -errno on failure.
int OpenBusyEpoll(const int* fds, int n, const BusyPoll& bp);

// EPIOCSPARAMS on ep with busy_poll_usecs = micros (the rest from bp); 0 or -errno.
int SetEpollBusyMicros(int ep, uint32_t micros, const BusyPoll& bp);
