#ifndef VMTEST_CLIBVIRT_PROCESS_H
#define VMTEST_CLIBVIRT_PROCESS_H
/*
 * prctl() and syscall() are variadic and siginfo_t's fields sit in unions, none of which
 * Swift imports well: the calls vmtest makes, with their numbers from the headers. The
 * pidfd calls go through syscall(): glibc has wrappers for them only from 2.36 on.
 */
#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Makes this process the parent of what its descendants leave behind (daemons). */
static inline int vmtest_become_child_subreaper(void) {
    return prctl(PR_SET_CHILD_SUBREAPER, 1UL, 0UL, 0UL, 0UL);
}

/*
 * No transparent huge pages for this process and the processes it starts: the setting is
 * inherited across fork() and execve().
 */
static inline int vmtest_disable_transparent_huge_pages(void) {
    return prctl(PR_SET_THP_DISABLE, 1UL, 0UL, 0UL, 0UL);
}

/*
 * Waits until a child of this process has ended, without reaping it: its PID, 0 when
 * this process has no child at all, -1 when interrupted.
 */
static inline pid_t vmtest_await_ended_child(void) {
    siginfo_t info = {0};
    if (waitid(P_ALL, 0, &info, WEXITED | WNOWAIT) == -1) {
        return errno == ECHILD ? 0 : -1;
    }
    return info.si_pid;
}

/* A file descriptor that refers to process `pid` for as long as it is open. */
static inline int vmtest_pidfd_open(pid_t pid) {
    return (int)syscall(SYS_pidfd_open, pid, 0U);
}

/* A copy of the process's file descriptor `fd` in this process (ptrace's permission). */
static inline int vmtest_pidfd_getfd(int pidfd, int fd) {
    return (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0U);
}

/* Sends `signal` to the process, never to a later one with the same PID (0: is it there). */
static inline int vmtest_pidfd_send_signal(int pidfd, int signal) {
    return (int)syscall(SYS_pidfd_send_signal, pidfd, signal, (siginfo_t *)0, 0U);
}
#endif
