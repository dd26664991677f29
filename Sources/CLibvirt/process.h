#ifndef VMTEST_CLIBVIRT_PROCESS_H
#define VMTEST_CLIBVIRT_PROCESS_H
/*
 * prctl() is variadic and siginfo_t's fields sit in unions, neither of which Swift
 * imports well: the two calls vmtest makes, with their numbers from the headers.
 */
#include <errno.h>
#include <sys/prctl.h>
#include <sys/wait.h>

/* Makes this process the parent of what its descendants leave behind (daemons). */
static inline int vmtest_become_child_subreaper(void) {
    return prctl(PR_SET_CHILD_SUBREAPER, 1UL, 0UL, 0UL, 0UL);
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
#endif
