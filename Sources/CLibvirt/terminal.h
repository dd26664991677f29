#ifndef VMTEST_CLIBVIRT_TERMINAL_H
#define VMTEST_CLIBVIRT_TERMINAL_H
/*
 * The pseudo-terminal requests the tests' real-terminal shell uses, from the headers:
 * _IOW() and _IOR() are function-like macros, which Swift does not import.
 */
#include <sys/ioctl.h>

static const unsigned long vmtest_tiocsptlck_request = TIOCSPTLCK;
static const unsigned long vmtest_tiocgptn_request = TIOCGPTN;
#endif
