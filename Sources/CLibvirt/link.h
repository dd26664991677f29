#ifndef VMTEST_CLIBVIRT_LINK_H
#define VMTEST_CLIBVIRT_LINK_H
/* Where the kernel loaded this program's headers (getauxval's AT_PHDR, AT_PHNUM), the ELF
   numbers its dynamic section is read with (PT_DYNAMIC, DT_RELA ...), and madvise(). */
#include <elf.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#endif
