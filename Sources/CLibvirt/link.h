#ifndef VMTEST_CLIBVIRT_LINK_H
#define VMTEST_CLIBVIRT_LINK_H
/* Where the kernel loaded this program's headers (getauxval's AT_PHDR, AT_PHNUM), the
   loader's list of loaded objects (_r_debug), the ELF numbers their headers and dynamic
   sections are read with (PT_DYNAMIC, DT_RELA, PF_R ...), and madvise(). */
#include <elf.h>
#include <link.h>
#include <sys/auxv.h>
#include <sys/mman.h>

/* The first object of the loader's list (the executable), each one's l_next the next. A
   library the loader adds meanwhile is complete before it is linked in. */
static inline struct link_map *vmtest_loaded_objects(void) { return _r_debug.r_map; }
#endif
