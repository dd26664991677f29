#ifndef VMTEST_CLIBVIRT_RANDOM_H
#define VMTEST_CLIBVIRT_RANDOM_H
/*
 * The request that makes Linux reseed its random number generator at once, straight from
 * <linux/random.h>. A restored guest's shell sends it (through perl's ioctl), so the number
 * is the guest's: x86_64, arm and arm64 all encode ioctl requests as asm-generic/ioctl.h
 * does, so the host's header gives the guest's value.
 */
#include <linux/random.h>

static const unsigned long vmtest_random_reseed_request = RNDRESEEDCRNG;

#endif
