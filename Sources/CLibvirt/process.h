#ifndef VMTEST_CLIBVIRT_PROCESS_H
#define VMTEST_CLIBVIRT_PROCESS_H
/*
 * prctl() is variadic, which Swift does not import: the one call vmtest makes, with the
 * option's number from the header.
 */
#include <sys/prctl.h>

static inline int vmtest_become_child_subreaper(void) {
    return prctl(PR_SET_CHILD_SUBREAPER, 1UL, 0UL, 0UL, 0UL);
}
#endif
