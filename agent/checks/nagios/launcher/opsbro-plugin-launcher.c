/*
 * opsbro-plugin-launcher: starts Nagios plugins for the agent, so that the agent never forks.
 *
 * Why it exists (docs/checks-script.md, "The plugin launcher"): Node's child_process.spawn forks
 * the agent, and fork() copies the page tables of the whole process: ~0.6 ms of the agent's CPU
 * per plugin run for a bare Node, growing with its memory (2.6 ms at 326 MiB), plus ~0.3 ms more
 * in each plugin to tear down that copy at exec. This small process starts each plugin with
 * posix_spawn (glibc: clone(CLONE_VM|CLONE_VFORK), nothing copied), as Nagios' workers fork from
 * small processes.
 *
 * It does only that: start, watch, read, report. Timeouts, process-group signals and what the
 * results mean stay in the agent (agent/checks/nagios/run-plugin.ts), which knows the time.
 *
 * Protocol, on stdin (requests) and stdout (events), every integer little-endian:
 *   frame   = u32 length of what follows, u8 type, u32 run id, body
 *   RUN     (1) u32 stdout limit, u32 stderr limit, u32 argc, argc NUL-terminated strings
 *   ABANDON (2) (nothing): stop reading the run's pipes (a process that left its group holds them)
 *   STARTED (1) i32 pid: the plugin runs in its own process group (pgid = pid)
 *   FAILED  (2) i32 errno: it never ran (ENOENT, EACCES, EAGAIN when every slot is taken, ...)
 *   EXITED  (3) i32 pid, i32 exit code (-1 when signaled), i32 signal (0 when exited): the leader
 *               is gone and left processes in its group (the agent ends them)
 *   CLOSED  (4) i32 pid, i32 exit code, i32 signal, u64 stdout bytes dropped, u64 stderr bytes
 *               dropped, u32 stdout length, u32 stderr length, the kept bytes: the run is over
 *               (the leader exited, and both pipes closed)
 * Every event costs the agent a wake-up, so a run that ends quickly (most do, in a few ms) gets
 * one event, CLOSED, which says it all: STARTED only goes out for a run still going after
 * STARTED_DELAY_MS (the agent needs the pid only to signal the group, at a timeout or a stop, and
 * waits for it then), and EXITED only when the leader left processes behind. Events are held
 * while other runs are still under way, 20 ms at most (hold_ms), and go out in one write: the agent starts
 * the runs of a window together (agent/checks/scheduler.ts), and their results then reach it in
 * one wake-up instead of one each.
 * The plugin gets /dev/null as stdin and this process' environment and directory (the agent
 * starts it with the plugins' environment and `/`). End of stdin (the agent exited or died):
 * every plugin group still running is killed and the launcher exits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

enum { REQUEST_RUN = 1, REQUEST_ABANDON = 2 };
enum { EVENT_STARTED = 1, EVENT_FAILED = 2, EVENT_EXITED = 3, EVENT_CLOSED = 4 };

/* The agent runs at most checks.max_concurrent (<= 1024) at once; slack for runs being closed. */
#define MAX_RUNS 4096
/* The agent's lines are short; a frame larger than this is a broken stream, not a request. */
#define MAX_FRAME (1u << 20)
#define MAX_ARGS 4096
/* What is kept of one stream at most, whatever the agent asks (it asks 4 KiB and 1 KiB). */
#define MAX_LIMIT (1u << 20)
#define STARTED_DELAY_MS 50
/* How long events wait for those of the other runs under way (nothing waits once none runs);
 * `--hold-ms N` changes it (tests). */
static long long hold_ms = 20;

struct run {
  int in_use;
  uint32_t id;
  pid_t pid;        /* the leader, and the id of its process group */
  int exited;       /* the leader was reaped: code and signal are known */
  int code, signal; /* how it ended: exit code (-1 when signaled), signal (0 when exited) */
  int started_sent; /* STARTED (or EXITED, which carries the pid) went out */
  long long spawned_at_ms;
  int fd[2];        /* read ends of stdout and stderr, -1 once closed */
  uint32_t limit[2];
  uint32_t kept[2];
  uint64_t dropped[2];
  char *buf[2];
};

static struct run runs[MAX_RUNS];
static int run_high_water; /* runs[0 .. run_high_water) may be in use */

static void fatal(const char *what) {
  /* stderr is the agent's log stream: one line, then out. */
  char line[256];
  size_t n = 0;
  const char *prefix = "opsbro-plugin-launcher: ";
  const char *reason = strerror(errno);
  for (const char *p = prefix; *p && n < sizeof line - 2; p++) line[n++] = *p;
  for (const char *p = what; *p && n < sizeof line - 2; p++) line[n++] = *p;
  if (n < sizeof line - 4) { line[n++] = ':'; line[n++] = ' '; }
  for (const char *p = reason; *p && n < sizeof line - 2; p++) line[n++] = *p;
  line[n++] = '\n';
  (void)!write(2, line, n);
  _exit(70);
}

/* Kills every group still running: nothing of a run outlives the agent that asked for it. */
static void kill_all_and_exit(int code) {
  for (int i = 0; i < run_high_water; i++) {
    if (runs[i].in_use && runs[i].pid > 0) kill(-runs[i].pid, SIGKILL);
  }
  _exit(code);
}

static void write_all(const void *data, size_t length) {
  const char *p = data;
  while (length > 0) {
    ssize_t n = write(1, p, length);
    if (n < 0) {
      if (errno == EINTR) continue;
      /* EPIPE: the agent is gone. */
      kill_all_and_exit(0);
    }
    p += n;
    length -= (size_t)n;
  }
}

static long long now_ms(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* Events wait here until the end of the loop's turn: one write for all of them. */
static unsigned char *output;
static size_t output_length, output_capacity;
static long long held_since_ms; /* when the oldest event waiting in `output` was produced */

static unsigned char *reserve(size_t length) {
  if (output_length == 0) held_since_ms = now_ms();
  if (output_capacity - output_length < length) {
    size_t wanted = output_capacity ? output_capacity : 65536;
    while (wanted - output_length < length) wanted *= 2;
    unsigned char *grown = realloc(output, wanted);
    if (grown == NULL) fatal("out of memory");
    output = grown;
    output_capacity = wanted;
  }
  unsigned char *at = output + output_length;
  output_length += length;
  return at;
}

static void flush_events(void) {
  if (output_length > 0) write_all(output, output_length);
  output_length = 0;
}

static int runs_under_way(void) {
  for (int i = 0; i < run_high_water; i++) {
    if (runs[i].in_use) return 1;
  }
  return 0;
}

/* Sends what waits once no run is under way or it waited hold_ms; else how long it may still wait
 * (-1: nothing waits). */
static int flush_when_due(void) {
  if (output_length == 0) return -1;
  long long waited = now_ms() - held_since_ms;
  if (waited >= hold_ms || !runs_under_way()) {
    flush_events();
    return -1;
  }
  return (int)(hold_ms - waited);
}

static int earliest(int a, int b) {
  if (a < 0) return b;
  if (b < 0) return a;
  return a < b ? a : b;
}

static void put_u32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)v;
  p[1] = (unsigned char)(v >> 8);
  p[2] = (unsigned char)(v >> 16);
  p[3] = (unsigned char)(v >> 24);
}

static void put_u64(unsigned char *p, uint64_t v) {
  put_u32(p, (uint32_t)v);
  put_u32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t get_u32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* An event with up to three 32-bit values. */
static void send_small(uint8_t type, uint32_t id, int count, int32_t a, int32_t b, int32_t c) {
  uint32_t length = 1 + 4 + 4 * (uint32_t)count;
  unsigned char *frame = reserve(4 + length);
  put_u32(frame, length);
  frame[4] = type;
  put_u32(frame + 5, id);
  if (count > 0) put_u32(frame + 9, (uint32_t)a);
  if (count > 1) put_u32(frame + 13, (uint32_t)b);
  if (count > 2) put_u32(frame + 17, (uint32_t)c);
}

/* The run never ran: `error` says why (an errno). */
static void fail_run(uint32_t id, int error) {
  send_small(EVENT_FAILED, id, 1, error, 0, 0);
}

static void close_fd(int *fd) {
  if (*fd >= 0) {
    close(*fd);
    *fd = -1;
  }
}

static void release(struct run *run) {
  free(run->buf[0]);
  free(run->buf[1]);
  memset(run, 0, sizeof *run);
  run->fd[0] = run->fd[1] = -1;
  while (run_high_water > 0 && !runs[run_high_water - 1].in_use) run_high_water--;
}

/* The run is over once its leader was reaped and both pipes are closed: report and free it. */
static void close_if_done(struct run *run) {
  if (!run->exited || run->fd[0] >= 0 || run->fd[1] >= 0) return;
  enum { HEAD = 4 + 1 + 4 + 12 + 8 + 8 + 4 + 4 };
  uint32_t length = HEAD - 4 + run->kept[0] + run->kept[1];
  unsigned char *frame = reserve(4 + length);
  put_u32(frame, length);
  frame[4] = EVENT_CLOSED;
  put_u32(frame + 5, run->id);
  put_u32(frame + 9, (uint32_t)run->pid);
  put_u32(frame + 13, (uint32_t)run->code);
  put_u32(frame + 17, (uint32_t)run->signal);
  put_u64(frame + 21, run->dropped[0]);
  put_u64(frame + 29, run->dropped[1]);
  put_u32(frame + 37, run->kept[0]);
  put_u32(frame + 41, run->kept[1]);
  if (run->kept[0]) memcpy(frame + HEAD, run->buf[0], run->kept[0]);
  if (run->kept[1]) memcpy(frame + HEAD + run->kept[0], run->buf[1], run->kept[1]);
  release(run);
}

static struct run *find_run(uint32_t id) {
  for (int i = 0; i < run_high_water; i++) {
    if (runs[i].in_use && runs[i].id == id) return &runs[i];
  }
  return NULL;
}

static struct run *free_slot(void) {
  for (int i = 0; i < MAX_RUNS; i++) {
    if (!runs[i].in_use) {
      if (i >= run_high_water) run_high_water = i + 1;
      return &runs[i];
    }
  }
  return NULL;
}

static void start_run(uint32_t id, const unsigned char *body, uint32_t length) {
  if (length < 12) { fail_run(id, EINVAL); return; }
  uint32_t limits[2] = {get_u32(body), get_u32(body + 4)};
  uint32_t argc = get_u32(body + 8);
  if (argc == 0 || argc > MAX_ARGS) { fail_run(id, E2BIG); return; }
  char *argv[MAX_ARGS + 1];
  const char *p = (const char *)body + 12, *end = (const char *)body + length;
  for (uint32_t i = 0; i < argc; i++) {
    const char *nul = memchr(p, 0, (size_t)(end - p));
    if (nul == NULL) { fail_run(id, EINVAL); return; }
    argv[i] = (char *)p;
    p = nul + 1;
  }
  argv[argc] = NULL;

  struct run *run = free_slot();
  if (run == NULL) { fail_run(id, EAGAIN); return; }
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) < 0) { fail_run(id, errno); release(run); return; }
  if (pipe2(err, O_CLOEXEC) < 0) {
    int saved = errno;
    close(out[0]);
    close(out[1]);
    fail_run(id, saved);
    release(run);
    return;
  }

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attributes;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  posix_spawnattr_init(&attributes);
  /* Its own process group (the agent ends runs by group), no blocked signal, and SIGPIPE back to
   * its default (this process ignores it, and an ignored signal survives exec). */
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                            POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_USEVFORK);
  posix_spawnattr_setpgroup(&attributes, 0);
  sigset_t none, defaults;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attributes, &none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigdefault(&attributes, &defaults);
  pid_t pid;
  int failure = posix_spawnp(&pid, argv[0], &actions, &attributes, argv, environ);
  if (failure == ENOEXEC && argc < MAX_ARGS) {
    /* A script without a #! line: run by /bin/sh as execvp() (and Node's spawn) would, the
     * arguments staying arguments. */
    char *shell_argv[MAX_ARGS + 2];
    shell_argv[0] = "/bin/sh";
    for (uint32_t i = 0; i <= argc; i++) shell_argv[i + 1] = argv[i];
    failure = posix_spawn(&pid, "/bin/sh", &actions, &attributes, shell_argv, environ);
  }
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  close(out[1]);
  close(err[1]);
  if (failure != 0) {
    close(out[0]);
    close(err[0]);
    fail_run(id, failure);
    release(run);
    return;
  }
  run->in_use = 1;
  run->id = id;
  run->pid = pid;
  run->fd[0] = out[0];
  run->fd[1] = err[0];
  for (int s = 0; s < 2; s++) {
    run->limit[s] = limits[s] > MAX_LIMIT ? MAX_LIMIT : limits[s];
    fcntl(run->fd[s], F_SETFL, O_NONBLOCK);
  }
  run->spawned_at_ms = now_ms();
}

static void handle_frame(const unsigned char *frame, uint32_t length) {
  if (length < 5) fatal("short request frame");
  uint8_t type = frame[0];
  uint32_t id = get_u32(frame + 1);
  if (type == REQUEST_RUN) {
    start_run(id, frame + 5, length - 5);
  } else if (type == REQUEST_ABANDON) {
    struct run *run = find_run(id);
    if (run == NULL) return; /* already closed: the CLOSED event is on its way */
    close_fd(&run->fd[0]);
    close_fd(&run->fd[1]);
    close_if_done(run);
  } else {
    errno = EPROTO;
    fatal("unknown request type");
  }
}

/* Requests arrive in any chunking: complete frames are handled, the rest waits for more. */
static unsigned char *input;
static size_t input_length, input_capacity;

static void read_requests(void) {
  if (input_capacity - input_length < 65536) {
    size_t wanted = input_capacity ? input_capacity * 2 : 131072;
    if (wanted > 2 * (size_t)MAX_FRAME + 65536) wanted = 2 * (size_t)MAX_FRAME + 65536;
    if (wanted > input_capacity) {
      unsigned char *grown = realloc(input, wanted);
      if (grown == NULL) fatal("out of memory");
      input = grown;
      input_capacity = wanted;
    }
  }
  ssize_t n = read(0, input + input_length, input_capacity - input_length);
  if (n == 0) kill_all_and_exit(0);
  if (n < 0) {
    if (errno == EINTR || errno == EAGAIN) return;
    fatal("read requests");
  }
  input_length += (size_t)n;
  size_t offset = 0;
  while (input_length - offset >= 4) {
    uint32_t length = get_u32(input + offset);
    if (length > MAX_FRAME) {
      errno = EMSGSIZE;
      fatal("request frame too large");
    }
    if (input_length - offset - 4 < length) break;
    handle_frame(input + offset + 4, length);
    offset += 4 + length;
  }
  memmove(input, input + offset, input_length - offset);
  input_length -= offset;
}

static void read_output(struct run *run, int stream) {
  static char chunk[65536];
  for (;;) {
    ssize_t n = read(run->fd[stream], chunk, sizeof chunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return;
      n = 0; /* a read error ends the stream like its end */
    }
    if (n == 0) {
      close_fd(&run->fd[stream]);
      close_if_done(run);
      return;
    }
    uint32_t room = run->limit[stream] - run->kept[stream];
    uint32_t kept = (uint32_t)n < room ? (uint32_t)n : room;
    if (kept > 0) {
      if (run->buf[stream] == NULL) {
        run->buf[stream] = malloc(run->limit[stream]);
        if (run->buf[stream] == NULL) fatal("out of memory");
      }
      memcpy(run->buf[stream] + run->kept[stream], chunk, kept);
      run->kept[stream] += kept;
    }
    run->dropped[stream] += (uint64_t)n - kept;
  }
}

static void reap(int signals) {
  struct signalfd_siginfo info;
  while (read(signals, &info, sizeof info) > 0) {
  }
  for (;;) {
    int status;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    for (int i = 0; i < run_high_water; i++) {
      struct run *run = &runs[i];
      if (!run->in_use || run->pid != pid || run->exited) continue;
      run->exited = 1;
      run->code = WIFSIGNALED(status) ? -1 : WEXITSTATUS(status);
      run->signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
      /* What the leader wrote is all in the pipes by now. */
      for (int s = 0; s < 2; s++) {
        if (run->fd[s] >= 0) read_output(run, s);
      }
      if (!run->in_use) break; /* both pipes were at their end: CLOSED went out */
      if (run->fd[0] < 0 && run->fd[1] < 0) {
        /* Closed before the leader was reaped: the run is over. */
        close_if_done(run);
      } else if (kill(-pid, 0) == 0) {
        /* Processes of its group still run (and may hold the pipes): the agent ends them. */
        send_small(EVENT_EXITED, run->id, 3, pid, run->code, run->signal);
        run->started_sent = 1;
      } else {
        /* Nothing of its group is left: whatever still holds the pipes left the group (setsid)
         * and is beyond the run. Its output ends here. */
        close_fd(&run->fd[0]);
        close_fd(&run->fd[1]);
        close_if_done(run);
      }
      break;
    }
  }
}

/* STARTED for the runs still going after STARTED_DELAY_MS; how long until the next one is due. */
static int send_due_started(void) {
  long long now = now_ms(), next = -1;
  for (int i = 0; i < run_high_water; i++) {
    struct run *run = &runs[i];
    if (!run->in_use || run->started_sent || run->exited) continue;
    long long due = run->spawned_at_ms + STARTED_DELAY_MS;
    if (due <= now) {
      send_small(EVENT_STARTED, run->id, 1, run->pid, 0, 0);
      run->started_sent = 1;
    } else if (next < 0 || due - now < next) {
      next = due - now;
    }
  }
  return (int)next;
}

/* Descriptors the agent's own parent left open without close-on-exec would reach every plugin:
 * none but 0-2 survives here. */
static void close_inherited(void) {
#ifdef SYS_close_range
  if (syscall(SYS_close_range, 3u, ~0u, 0u) == 0) return;
#endif
  long max = sysconf(_SC_OPEN_MAX);
  if (max < 0 || max > 65536) max = 65536;
  for (int fd = 3; fd < max; fd++) close(fd);
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--hold-ms") == 0) {
    hold_ms = atoll(argv[2]);
  } else if (argc != 1) {
    errno = EINVAL;
    fatal("usage: opsbro-plugin-launcher [--hold-ms N]");
  }
  close_inherited();
  signal(SIGPIPE, SIG_IGN);
  sigset_t child;
  sigemptyset(&child);
  sigaddset(&child, SIGCHLD);
  if (sigprocmask(SIG_BLOCK, &child, NULL) < 0) fatal("sigprocmask");
  int signals = signalfd(-1, &child, SFD_NONBLOCK | SFD_CLOEXEC);
  if (signals < 0) fatal("signalfd");
  /* The agent's pipes must not reach the plugins (they get /dev/null and their own pipes). */
  fcntl(0, F_SETFD, FD_CLOEXEC);
  fcntl(1, F_SETFD, FD_CLOEXEC);
  fcntl(0, F_SETFL, fcntl(0, F_GETFL) & ~O_NONBLOCK);
  fcntl(1, F_SETFL, fcntl(1, F_GETFL) & ~O_NONBLOCK);
  for (int i = 0; i < MAX_RUNS; i++) runs[i].fd[0] = runs[i].fd[1] = -1;

  static struct pollfd fds[2 + 2 * MAX_RUNS];
  static struct run *owner[2 + 2 * MAX_RUNS];
  static int stream_of[2 + 2 * MAX_RUNS];
  for (;;) {
    nfds_t count = 0;
    fds[count++] = (struct pollfd){.fd = 0, .events = POLLIN};
    fds[count++] = (struct pollfd){.fd = signals, .events = POLLIN};
    for (int i = 0; i < run_high_water; i++) {
      for (int s = 0; s < 2; s++) {
        if (!runs[i].in_use || runs[i].fd[s] < 0) continue;
        owner[count] = &runs[i];
        stream_of[count] = s;
        fds[count++] = (struct pollfd){.fd = runs[i].fd[s], .events = POLLIN};
      }
    }
    int timeout = send_due_started();
    timeout = earliest(timeout, flush_when_due());
    if (poll(fds, count, timeout) < 0) {
      if (errno == EINTR) continue;
      fatal("poll");
    }
    /* Output before exits, so a run's CLOSED carries everything it printed. */
    for (nfds_t i = 2; i < count; i++) {
      if (fds[i].revents && owner[i]->in_use && owner[i]->fd[stream_of[i]] == fds[i].fd) {
        read_output(owner[i], stream_of[i]);
      }
    }
    if (fds[1].revents) reap(signals);
    if (fds[0].revents) read_requests();
  }
}
