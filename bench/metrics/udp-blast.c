/* bench:metrics' statsd load: UDP packets to HOST:PORT at RATE a second for SECONDS, each holding
 * PER_PACKET counter lines ("bench.k<i>:1|c"), sent with sendmmsg in batches so the sender costs a
 * fraction of what the receivers do. Prints the packets sent, and the rate reached.
 * Usage: udp-blast HOST PORT RATE SECONDS PER_PACKET */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: udp-blast HOST PORT RATE SECONDS PER_PACKET\n");
    return 2;
  }
  double rate = atof(argv[3]), seconds = atof(argv[4]);
  int per_packet = atoi(argv[5]);
  char payload[2048];
  size_t length = 0;
  for (int i = 0; i < per_packet && length < sizeof payload - 32; i++)
    length += (size_t)snprintf(payload + length, sizeof payload - length, "%sbench.k%d:1|c", i ? "\n" : "", i);
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[2]))};
  if (inet_pton(AF_INET, argv[1], &to.sin_addr) != 1) return 2;
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&to, sizeof to) < 0) return perror("socket"), 1;
  struct iovec iov = {.iov_base = payload, .iov_len = length};
  struct mmsghdr messages[BATCH];
  memset(messages, 0, sizeof messages);
  for (int i = 0; i < BATCH; i++) {
    messages[i].msg_hdr.msg_iov = &iov;
    messages[i].msg_hdr.msg_iovlen = 1;
  }
  long sent = 0;
  double start = now_s(), end = start + seconds;
  for (double t = start; t < end; t = now_s()) {
    long due = (long)((t - start) * rate) - sent;
    while (due > 0) {
      int n = sendmmsg(fd, messages, due < BATCH ? (unsigned)due : BATCH, 0);
      if (n <= 0) break;
      sent += n;
      due -= n;
    }
    struct timespec pause = {0, 200000}; /* 0.2 ms */
    nanosleep(&pause, NULL);
  }
  printf("%ld %.0f\n", sent, sent / (now_s() - start));
  return 0;
}
