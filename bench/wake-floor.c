// The thread wake-up floor of a userspace datapath on this machine: one byte passes through a chain of 4 threads,
// each sleeping in poll() and then doing read() and write() to the next pipe, as the 4 loop hops of a ping through
// two userspace VXLAN nodes do. No Node, no networking. Prints the round trip for a given idle gap between rounds.
//   gcc -O2 -pthread -o /tmp/wake-floor bench/wake-floor.c && /tmp/wake-floor 10000 200
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define HOPS 4

static int pipes[HOPS + 1][2];

static void* hop(void* arg) {
  long i = (long)arg;
  char c;
  for (;;) {
    struct pollfd p = {pipes[i][0], POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    if (read(pipes[i][0], &c, 1) != 1 || write(pipes[i + 1][1], &c, 1) != 1) return NULL;
  }
}

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int by_value(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: wake-floor <gap µs> <rounds>\n");
    return 2;
  }
  int gap = atoi(argv[1]), rounds = atoi(argv[2]);
  if (rounds < 1) rounds = 1;
  for (int i = 0; i <= HOPS; i++) {
    if (pipe(pipes[i]) != 0) return 1;
  }
  for (long i = 0; i < HOPS; i++) {
    pthread_t t;
    pthread_create(&t, NULL, hop, (void*)i);
  }
  double* rtt = malloc(rounds * sizeof *rtt);
  double sum = 0;
  for (int k = 0; k < rounds; k++) {
    usleep(gap);
    char c = 1;
    double start = now_us();
    if (write(pipes[0][1], &c, 1) != 1 || read(pipes[HOPS][0], &c, 1) != 1) return 1;
    rtt[k] = now_us() - start;
    sum += rtt[k];
  }
  qsort(rtt, rounds, sizeof *rtt, by_value);
  printf("gap %6d us: %d wake-ups avg %.0f us, min %.0f, median %.0f, p90 %.0f\n", gap, HOPS, sum / rounds, rtt[0],
         rtt[rounds / 2], rtt[rounds * 9 / 10]);
  return 0;
}
