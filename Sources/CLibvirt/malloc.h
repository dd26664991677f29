#ifndef VMTEST_CLIBVIRT_MALLOC_H
#define VMTEST_CLIBVIRT_MALLOC_H
/* glibc's mallopt() and its parameter numbers, which Swift's Glibc module leaves out. */
#include <malloc.h>
#endif
