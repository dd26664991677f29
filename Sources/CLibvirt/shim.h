#ifndef VMTEST_CLIBVIRT_SHIM_H
#define VMTEST_CLIBVIRT_SHIM_H
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include "kvm.h"
#include "terminal.h"
#include "process.h"
#include "random.h"
#include "malloc.h"
#include "link.h"
#include "pipe.h"
#endif
