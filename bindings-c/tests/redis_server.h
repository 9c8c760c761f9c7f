/*
 * redis_server.h: a private redis-server for one C test program — a free loopback port, no
 * persistence, killed when the test ends (and by the kernel if the test dies first: the child
 * asks for SIGKILL when its parent exits). The test can stop it (SIGSTOP: connections stay open
 * but nothing answers), resume it, kill it, and start it again on the same port, empty.
 *
 * The program must define _POSIX_C_SOURCE 200809L (or _GNU_SOURCE) before any #include.
 */
#ifndef TESSERA_REDIS_SERVER_H
#define TESSERA_REDIS_SERVER_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct redis_server {
    pid_t pid; /* 0 when not running */
    int port;
    char dir[64];
};

static int redis_free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    close(fd);
    return ntohs(addr.sin_port);
}

static int redis_accepts(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0;
    if (fd >= 0) close(fd);
    return ok;
}

static void redis_sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0 && errno == EINTR) {
    }
}

/* Whether redis-server is on PATH. */
static int redis_installed(void) {
    return system("redis-server --version >/dev/null 2>&1") == 0;
}

/* Start (or restart, on the same port) the server; 0 on success. */
static int redis_start(struct redis_server *r) {
    if (r->port == 0) {
        r->port = redis_free_port();
        snprintf(r->dir, sizeof r->dir, "/tmp/tessera-c-redis-XXXXXX");
        if (r->port <= 0 || mkdtemp(r->dir) == NULL) return -1;
    }
    char port[16];
    snprintf(port, sizeof port, "%d", r->port);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        /* Die with the test, even if it crashes or is killed. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, STDOUT_FILENO);
            dup2(null, STDERR_FILENO);
        }
        execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", r->dir, (char *)NULL);
        _exit(127);
    }
    r->pid = pid;
    for (int i = 0; i < 500; i++) { /* up to 10 s */
        if (redis_accepts(r->port)) return 0;
        if (waitpid(pid, NULL, WNOHANG) == pid) break;
        redis_sleep_ms(20);
    }
    r->pid = 0;
    return -1;
}

/* SIGSTOP / SIGCONT: the server keeps its connections and data but answers nothing. */
static void redis_pause(struct redis_server *r) { kill(r->pid, SIGSTOP); }
static void redis_resume(struct redis_server *r) { kill(r->pid, SIGCONT); }

/* Kill it, as a crash would (its data is gone: nothing is persisted). */
static void redis_kill(struct redis_server *r) {
    if (r->pid > 0) {
        kill(r->pid, SIGKILL);
        waitpid(r->pid, NULL, 0);
        r->pid = 0;
    }
}

static void redis_stop(struct redis_server *r) {
    redis_kill(r);
    if (r->dir[0] != '\0') rmdir(r->dir);
}

#endif
