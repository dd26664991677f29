#ifndef VMTEST_CLIBVIRT_PIPE_H
#define VMTEST_CLIBVIRT_PIPE_H
/*
 * pipe2() is a GNU extension, which neither Swift's Glibc module nor these headers
 * (compiled without _GNU_SOURCE, like that module) declare: the system call by its number.
 */
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* A pipe whose ends are closed in the programs this process starts. */
static inline int vmtest_pipe_closed_on_exec(int ends[2]) {
    return (int)syscall(SYS_pipe2, ends, O_CLOEXEC);
}
#endif
